package ilink

// WithRedactor hands every secret the adapter obtains at run time (the
// bot token of a QR login, and the one read back from the state file) to
// add as soon as it has it, so that the process's log redactor masks it
// in every later log line, an error body that echoes it included.
// cmd/chatloop passes its one redactor's Add.
func WithRedactor(add func(...string)) Option {
	return func(a *Adapter) {
		if add != nil {
			a.redact = add
		}
	}
}
