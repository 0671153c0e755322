package main

import "github.com/chatloop/chatloop/bot/demo"

func newDemoBackend() *backend {
	return &backend{gen: demo.New(), close: func() error { return nil }}
}
