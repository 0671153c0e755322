package main

import "github.com/spf13/cobra"

// modelCommands are the subcommands of "chatloop model"; files that define
// them append in an init.
var modelCommands []func(*app) *cobra.Command

func init() {
	commands = append(commands, func(a *app) *cobra.Command {
		c := &cobra.Command{
			Use:   "model",
			Short: "Inspect, run, benchmark and fetch local GGUF models",
		}
		for _, add := range modelCommands {
			c.AddCommand(add(a))
		}
		return c
	})
}
