package cli

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"marketfleet/internal/config"
)

var errTest = errors.New("invalid test configuration")

// lib is a library configuration; spec binds variables to it.
type lib struct {
	Size  int
	Inner struct{ Wait time.Duration }
	Skip  bool
	Name  string
}

func (l lib) validate() error {
	switch {
	case l.Size < 1:
		return config.Invalid(errTest, "Size", l.Size, "want at least 1")
	case l.Inner.Wait <= 0:
		return config.In("Inner", config.Invalid(errTest, "Wait", l.Inner.Wait, "want > 0"))
	case l.Name == "x":
		return config.Invalid(errTest, "Name", l.Name, "want another name")
	}
	return nil
}

type spec struct {
	Size     *int           `envconfig:"T_SIZE" desc:"size"`
	Wait     *time.Duration `envconfig:"T_WAIT" desc:"wait"`
	Enabled  Not            `envconfig:"T_ENABLED" desc:"enabled"`
	Name     *string        `envconfig:"T_NAME" desc:"name"`
	Password string         `envconfig:"T_PASSWORD" secret:"true" desc:"secret"`
	Level    string         `envconfig:"T_LEVEL" default:"info" desc:"level"`
}

func bound(l *lib) *spec {
	return &spec{Size: &l.Size, Wait: &l.Inner.Wait, Enabled: Not{P: &l.Skip}, Name: &l.Name}
}

func TestLoadWritesThroughAndNamesTheVariable(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string // "" for success
	}{
		{map[string]string{"T_SIZE": "3", "T_WAIT": "2s", "T_ENABLED": "false"}, ""},
		{map[string]string{"T_SIZE": "0"}, "invalid configuration: T_SIZE=0: want at least 1"},
		{map[string]string{"T_WAIT": "-1s"}, "invalid configuration: T_WAIT=-1s: want > 0"},
		{map[string]string{"T_NAME": "x"}, `invalid configuration: T_NAME="x": want another name`},
		{map[string]string{"T_SIZE": "ten"}, `invalid configuration: T_SIZE="ten": want an integer`},
		{map[string]string{"T_ENABLED": "maybe"}, `invalid configuration: T_ENABLED="maybe": want true or false`},
	} {
		t.Run(tc.want, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			l := lib{Size: 1, Inner: struct{ Wait time.Duration }{time.Second}, Name: "n"}
			err := Load(bound(&l), &l, func() error { return l.validate() })
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("%v: %v", tc.env, err)
			case tc.want == "" && (l.Size != 3 || l.Inner.Wait != 2*time.Second || !l.Skip):
				t.Errorf("%v: the library config is %+v: the variables did not write through", tc.env, l)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Errorf("%v: Load = %v, want %q", tc.env, err, tc.want)
			}
		})
	}
}

func TestPrintEnvShowsTheBoundDefaultsAndNoSecret(t *testing.T) {
	t.Setenv("T_PASSWORD", "canary")
	l := lib{Size: 20, Inner: struct{ Wait time.Duration }{90 * time.Minute}}
	s := bound(&l)
	s.Password = "canary"
	var out bytes.Buffer
	if err := PrintEnv(&out, s); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"T_SIZE      20", "T_WAIT      1h30m", "T_ENABLED   true", "T_LEVEL     info"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "canary") {
		t.Errorf("help shows a secret:\n%s", out.String())
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Hour: "1h", 2 * time.Minute: "2m", 720 * time.Hour: "720h",
		90 * time.Second: "1m30s", 1500 * time.Millisecond: "1.5s", 0: "0s", time.Hour + time.Second: "1h0m1s"} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%s) = %q, want %q", d, got, want)
		}
	}
}
