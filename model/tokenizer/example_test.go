package tokenizer_test

import (
	"fmt"

	"github.com/chatloop/chatloop/model/internal/vocabdata"
	"github.com/chatloop/chatloop/model/tokenizer"
)

func Example() {
	v, err := vocabdata.Qwen2()
	if err != nil {
		panic(err)
	}
	tok, err := tokenizer.New(tokenizer.Config{
		Model: v.Model, Pre: v.Pre, Tokens: v.Tokens, Types: v.TokenTypes, Merges: v.Merges,
		BOS: v.BOS, EOS: v.EOS, EOT: v.EOT, EOM: -1, PAD: v.PAD, AddBOS: v.AddBOS,
	})
	if err != nil {
		panic(err)
	}
	ids := tok.Encode("Hello, world! 你好")
	fmt.Println(ids)
	fmt.Printf("%q\n", tok.Decode(ids))
	fmt.Println(tok.EncodeSpecial("<|im_start|>user\n"))

	// Streaming: Next holds back the bytes of an unfinished character.
	d := tok.NewDecoder()
	for _, id := range ids {
		fmt.Printf("%q ", d.Next(id))
	}
	fmt.Printf("%q\n", d.Flush())
	// Output:
	// [9707 11 1879 0 220 108386]
	// "Hello, world! 你好"
	// [151644 872 198]
	// "Hello" "," " world" "!" " " "你好" ""
}
