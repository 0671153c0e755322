//go:build !noasm

package arch

import "golang.org/x/sys/cpu"

// expBest is the fastest form of swiglu and expSub this CPU runs.
var expBest = func() vecLevel {
	switch {
	case cpu.X86.HasAVX512F:
		return vecAVX512
	case cpu.X86.HasAVX2:
		return vecAVX2
	}
	return vecGo
}()

// swigluAVX512 is swigluGo on a[:n] and u[:n].
//
//go:noescape
func swigluAVX512(a, u *float32, n int)

// expSubAVX512 is expSubGo on s[:n].
//
//go:noescape
func expSubAVX512(s *float32, n int, m float32)

// swigluAVX2 is swigluGo on a[:n] and u[:n], n a multiple of 8.
//
//go:noescape
func swigluAVX2(a, u *float32, n int)

// expSubAVX2 is expSubGo on s[:n], n a multiple of 8.
//
//go:noescape
func expSubAVX2(s *float32, n int, m float32)

// swigluAt is swiglu in the form lv.
func swigluAt(lv vecLevel, a, u []float32) {
	if lv == vecAVX512 && len(a) > 0 {
		_ = u[len(a)-1]
		swigluAVX512(&a[0], &u[0], len(a))
		return
	}
	if lv == vecAVX2 && len(a) >= 8 {
		n := len(a) &^ 7
		_ = u[n-1]
		swigluAVX2(&a[0], &u[0], n)
		a, u = a[n:], u[n:]
	}
	swigluGo(a, u)
}

// expSubAt is expSub in the form lv.
func expSubAt(lv vecLevel, s []float32, m float32) {
	if lv == vecAVX512 && len(s) > 0 {
		expSubAVX512(&s[0], len(s), m)
		return
	}
	if lv == vecAVX2 && len(s) >= 8 {
		n := len(s) &^ 7
		expSubAVX2(&s[0], n, m)
		s = s[n:]
	}
	expSubGo(s, m)
}

// asmExp: the assembly forms are built in.
const asmExp = true
