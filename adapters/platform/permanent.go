package platform

import "errors"

// ErrPermanent marks an adapter error that retrying cannot mend: a
// refused token, a port another program holds, a configuration the
// platform rejects. "chatloop run" restarts an adapter whose Run returns
// any other error (after a pause), and gives up at once on this one.
var ErrPermanent = errors.New("permanent failure")

// Permanent marks err as permanent: errors.Is(Permanent(err), ErrPermanent)
// holds, errors.Is and errors.As still see err, and the message is err's.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

type permanentError struct{ err error }

func (e permanentError) Error() string   { return e.err.Error() }
func (e permanentError) Unwrap() []error { return []error{e.err, ErrPermanent} }
