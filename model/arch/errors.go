package arch

import "errors"

var (
	// ErrUnsupported is returned (wrapped) for an architecture or tensor
	// type chatloop does not run.
	ErrUnsupported = errors.New("unsupported")
	// ErrBadModel is returned (wrapped) when a file's tensors or metadata
	// do not describe a consistent model.
	ErrBadModel = errors.New("malformed model")
)
