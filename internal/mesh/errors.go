package mesh

import (
	"fmt"
	"strconv"
	"strings"
)

// FieldError says what is wrong with one field of one resource. Decode and the validation
// functions return it (alone, or several in an ErrorList) so that callers can report the
// resource and the field separately.
type FieldError struct {
	// Index is the position of the resource in the batch being applied, or -1 when the error
	// is not about a resource of the batch (e.g. a delete).
	Index int
	// Kind, Namespace and Name identify the resource, as far as they are known.
	Kind      string
	Namespace string
	Name      string
	// Field is the path of the offending field, e.g. "spec.rules[0].backendRefs[1].weight".
	// Empty when the error is about the resource as a whole.
	Field string
	// Message says what is wrong with the field.
	Message string
}

// Error renders "<Kind> <namespace>/<name>: <field>: <message>".
func (e *FieldError) Error() string {
	var b strings.Builder
	if id := e.resourceName(); id != "" {
		b.WriteString(id)
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

func (e *FieldError) resourceName() string {
	switch {
	case e.Kind == "":
		return ""
	case e.Name == "":
		return e.Kind
	case e.Namespace == "":
		return e.Kind + " " + e.Name
	default:
		return e.Kind + " " + e.Namespace + "/" + e.Name
	}
}

// ErrorList is a list of field errors; it is an error when not empty.
type ErrorList []*FieldError

// Error joins the errors, one per line.
func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Err returns the list as an error, or nil when it is empty.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// fieldPath builds field paths such as spec.rules[0].backendRefs[1].weight.
type fieldPath string

func (p fieldPath) child(name string) fieldPath {
	if p == "" {
		return fieldPath(name)
	}
	return p + "." + fieldPath(name)
}

func (p fieldPath) index(i int) fieldPath {
	return p + "[" + fieldPath(strconv.Itoa(i)) + "]"
}

// errs collects the field errors of one resource.
type errs struct {
	res  *Resource
	idx  int
	list ErrorList
}

func (e *errs) add(field fieldPath, format string, args ...any) {
	fe := &FieldError{Index: e.idx, Field: string(field), Message: fmt.Sprintf(format, args...)}
	if e.res != nil {
		fe.Kind, fe.Namespace, fe.Name = e.res.Kind, e.res.Namespace, e.res.Name
	}
	e.list = append(e.list, fe)
}

func (e *errs) notSupported(field fieldPath) {
	e.add(field, "is not supported yet; remove it")
}
