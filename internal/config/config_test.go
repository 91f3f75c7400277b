package config_test

import (
	"errors"
	"fmt"
	"testing"

	"marketfleet/internal/config"
)

var errInvalid = errors.New("invalid thing configuration")

func TestFieldErrorNamesThePathAndWrapsTheKind(t *testing.T) {
	err := config.Invalid(errInvalid, "Size", 0, "want 1..%d", 1000)
	if err.Error() != "invalid thing configuration: Size 0: want 1..1000" || !errors.Is(err, errInvalid) {
		t.Fatalf("Invalid = %q (Is kind: %v)", err, errors.Is(err, errInvalid))
	}
	nested := config.In("Outer", config.In("Fetcher", err))
	var fe *config.FieldError
	if !errors.As(nested, &fe) || fe.Field != "Outer.Fetcher.Size" || !errors.Is(nested, errInvalid) {
		t.Fatalf("In = %v, want the path Outer.Fetcher.Size", nested)
	}
	if err.(*config.FieldError).Field != "Size" {
		t.Fatal("In changed the inner error")
	}
	plain := fmt.Errorf("%w: publisher required", errInvalid)
	if config.In("X", plain) != plain || config.In("X", nil) != nil {
		t.Fatal("In must leave other errors and nil alone")
	}
}
