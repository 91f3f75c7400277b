// Package synthetictest checks, for tests, that a bars table holds exactly
// what the synthetic source gives. It is shared by the benchmark designs'
// tests (bench/baseline and the nested module bench/river), which write
// the synthetic source's bars through connections of their own.
package synthetictest
