package cli

import (
	"bytes"
	"testing"
	"time"
)

func TestProgress(t *testing.T) {
	for _, tc := range []struct {
		name string
		tty  bool
		want string
	}{
		{
			name: "plain lines every 5s and at the end",
			want: "producer: backfill 500/1000 tasks (50%), 100 tasks/s, ETA 5s\n" +
				"producer: backfill 1000/1000 tasks (100%), 100 tasks/s, ETA 0s\n",
		},
		{
			name: "terminal bar redrawn in place", tty: true,
			want: "\r[===                           ] 100/1000 tasks (10%), 100 tasks/s, ETA 9s\x1b[K" +
				"\r[======                        ] 200/1000 tasks (20%), 100 tasks/s, ETA 8s\x1b[K" +
				"\r[=========                     ] 300/1000 tasks (30%), 100 tasks/s, ETA 7s\x1b[K" +
				"\r[============                  ] 400/1000 tasks (40%), 100 tasks/s, ETA 6s\x1b[K" +
				"\r[===============               ] 500/1000 tasks (50%), 100 tasks/s, ETA 5s\x1b[K" +
				"\r[==================            ] 600/1000 tasks (60%), 100 tasks/s, ETA 4s\x1b[K" +
				"\r[=====================         ] 700/1000 tasks (70%), 100 tasks/s, ETA 3s\x1b[K" +
				"\r[========================      ] 800/1000 tasks (80%), 100 tasks/s, ETA 2s\x1b[K" +
				"\r[===========================   ] 900/1000 tasks (90%), 100 tasks/s, ETA 1s\x1b[K" +
				"\r[==============================] 1000/1000 tasks (100%), 100 tasks/s, ETA 0s\x1b[K" +
				"\r[==============================] 1000/1000 tasks (100%), 100 tasks/s, ETA 0s\x1b[K\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
			var buf bytes.Buffer
			p := newProgress(&buf, tc.tty, "producer: backfill", "tasks", 1000, func() time.Time { return clock })
			for done := 100; done <= 1000; done += 100 {
				clock = clock.Add(time.Second)
				p.Update(done)
			}
			p.Finish(1000)
			if buf.String() != tc.want {
				t.Fatalf("progress wrote\n%q\nwant\n%q", buf.String(), tc.want)
			}
		})
	}
}
