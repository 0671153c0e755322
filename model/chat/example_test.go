package chat_test

import (
	"fmt"

	"github.com/chatloop/chatloop/model/chat"
)

func ExampleDetect() {
	// tokenizer.chat_template of a GGUF file (shortened).
	tmpl, err := chat.Detect("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}")
	if err != nil {
		panic(err)
	}
	fmt.Println(tmpl.Name())
	fmt.Printf("%q\n", tmpl.Render([]chat.Message{
		{Role: "system", Content: "Answer briefly."},
		{Role: "user", Content: "你好"},
	}, true))
	// Output:
	// chatml
	// "<|im_start|>system\nAnswer briefly.<|im_end|>\n<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n"
}
