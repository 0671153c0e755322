package ggml

// freeList keeps the scratch memory of finished kernel calls for the next
// ones (up to 64 values; one is taken per concurrent call). Unlike a
// sync.Pool it keeps them across garbage collections, so steady-state
// products do not allocate.
type freeList[T any] struct{ free chan *T }

func newFreeList[T any]() freeList[T] { return freeList[T]{make(chan *T, 64)} }

// get returns a kept value, or a new zero one.
func (l freeList[T]) get() *T {
	select {
	case s := <-l.free:
		return s
	default:
		return new(T)
	}
}

// put keeps s for a later get (or drops it when 64 are kept already).
func (l freeList[T]) put(s *T) {
	select {
	case l.free <- s:
	default:
	}
}
