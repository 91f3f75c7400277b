package cli

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"

	"github.com/kelseyhightower/envconfig"

	"marketfleet/internal/config"
)

// Not binds a boolean variable to a field that says the opposite, such as
// FLEET_FEATURES to worker.Config.SkipFeatures (a library's boolean
// defaults to false).
type Not struct{ P *bool }

// Decode sets the field to the opposite of v.
func (n Not) Decode(v string) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return err
	}
	*n.P = !b
	return nil
}

// String is the variable's value.
func (n Not) String() string { return strconv.FormatBool(!*n.P) }

// Load fills spec from the environment and validates the result; the error
// is one line that names the variable, suitable to print as is, and never
// quotes the value of a variable that may hold a secret.
//
// spec is a struct of variables (envconfig tags). A field that is a pointer
// (or a Not) is bound to a field of a library configuration, whose
// defaults it shows and whose value it sets: root is that configuration,
// and validate checks it. When validate returns a *config.FieldError, its
// path (from root) leads to the bound field, hence to the variable the
// error names. Value fields are the commands' own (their defaults in the
// "default" tag); spec's own Validate method, if any, checks them first.
func Load(spec any, root any, validate func() error) error {
	if err := envconfig.Process("", spec); err != nil {
		var pe *envconfig.ParseError
		if errors.As(err, &pe) {
			return fmt.Errorf("invalid configuration: %s=%q: %s", pe.KeyName, pe.Value, describeParse(pe))
		}
		return fmt.Errorf("invalid configuration: %w", err)
	}
	if v, ok := spec.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return fmt.Errorf("invalid configuration: %w", err)
		}
	}
	if validate == nil {
		return nil
	}
	err := validate()
	var fe *config.FieldError
	if errors.As(err, &fe) {
		if b, ok := bindings(spec)[fieldAddr(root, fe.Field)]; ok && b.name != "" {
			if b.secret { // never its value: it may hold a password
				return fmt.Errorf("invalid configuration: %s: %s", b.name, fe.Want)
			}
			value := fmt.Sprint(fe.Value)
			if s, isString := fe.Value.(string); isString {
				value = strconv.Quote(s)
			}
			return fmt.Errorf("invalid configuration: %s=%s: %s", b.name, value, fe.Want)
		}
	}
	if err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}
	return nil
}

// binding is the variable a field is bound to.
type binding struct {
	name   string
	secret bool // tagged secret:"true"
}

// bindings maps the address of every field spec's variables are bound to
// onto the variable.
func bindings(spec any) map[uintptr]binding {
	out := map[uintptr]binding{}
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		for i := range v.NumField() {
			f, sf := v.Field(i), v.Type().Field(i)
			b := binding{name: sf.Tag.Get("envconfig"), secret: sf.Tag.Get("secret") == "true"}
			switch {
			case f.Type() == reflect.TypeFor[Not]():
				if p := f.Interface().(Not).P; p != nil {
					out[reflect.ValueOf(p).Pointer()] = b
				}
			case f.Kind() == reflect.Pointer && !f.IsNil():
				out[f.Pointer()] = b
			case f.Kind() == reflect.Struct && sf.Anonymous:
				walk(f)
			}
		}
	}
	walk(reflect.ValueOf(spec).Elem())
	return out
}

// fieldAddr is the address of the field at path ("Fetcher.Size") in the
// struct root points to, or 0.
func fieldAddr(root any, path string) uintptr {
	if root == nil {
		return 0
	}
	v := reflect.ValueOf(root)
	if v.Kind() != reflect.Pointer {
		return 0
	}
	v = v.Elem()
	for _, name := range strings.Split(path, ".") {
		if v.Kind() != reflect.Struct {
			return 0
		}
		if v = v.FieldByName(name); !v.IsValid() {
			return 0
		}
	}
	return v.Addr().Pointer()
}

func describeParse(pe *envconfig.ParseError) string {
	switch pe.TypeName {
	case "Duration", "time.Duration":
		return "want a duration such as 500ms, 30s or 2m"
	case "int", "int64", "uint64":
		return "want an integer"
	case "bool", "cli.Not":
		return "want true or false"
	}
	var ne *strconv.NumError
	if errors.As(pe.Err, &ne) {
		return "want a number"
	}
	return "want a " + pe.TypeName
}

// PrintEnv writes one line per variable of spec: name, default, meaning.
// The default of a bound variable is the current value of the field it is
// bound to: print a spec bound to a configuration with its defaults, not
// one loaded from the environment (a variable tagged secret:"true" never
// shows a value).
func PrintEnv(w io.Writer, spec any) error {
	tmpl := template.Must(template.New("env").Funcs(template.FuncMap{"show": show}).Parse(
		`{{range .}}{{.Key}}	{{show .Field .Tags}}	{{.Tags.Get "desc"}}
{{end}}`))
	tw := tabwriter.NewWriter(w, 1, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tDEFAULT\tMEANING")
	if err := envconfig.Usaget("", spec, tw, tmpl); err != nil {
		return err
	}
	return tw.Flush()
}

// shortDuration is d as a person writes it: 1h, 2m, 720h, 1m30s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// show is a variable's default for PrintEnv.
func show(f reflect.Value, tags reflect.StructTag) string {
	switch {
	case tags.Get("default") != "":
		return tags.Get("default")
	case tags.Get("secret") == "true", !f.IsValid(), f.Kind() == reflect.Pointer:
		return "" // a secret, or a variable bound to nothing
	}
	switch v := f.Interface().(type) {
	case time.Duration:
		return shortDuration(v)
	case fmt.Stringer:
		return v.String()
	}
	return fmt.Sprint(f.Interface())
}
