package runner

import (
	"fmt"
	"runtime/debug"

	"marketfleet/outcome"
)

// PanicError is what a panic in a task's handling becomes: a permanent
// error of class outcome.Panic for the task it belongs to, carrying the
// panic's value and the stack where it happened. The task is dead-lettered
// with the stack; the worker and the rest of the batch go on.
type PanicError struct {
	// Value is what was passed to panic.
	Value any
	// Stack is the panicking goroutine's stack (runtime/debug.Stack).
	Stack string
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Class is outcome.Panic.
func (e *PanicError) Class() outcome.Class { return outcome.Panic }

// guard runs fn, turning a panic in it into a *PanicError: the barrier
// around every call into a handler (and around decoding), so that a panic
// fails one task, never the worker.
func guard(fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: string(debug.Stack())}
		}
	}()
	return fn()
}
