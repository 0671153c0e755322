package wecom

// WithRedactor hands every secret the adapter obtains at run time (each
// access token fetched from WeCom's API) to add as soon as it arrives, so
// that the process's log redactor masks it in every later log line, an
// error body that echoes it included. cmd/chatloop passes its one
// redactor's Add.
func WithRedactor(add func(...string)) Option {
	return func(a *Adapter) {
		if add != nil {
			a.api.onToken = add
		}
	}
}
