package scrub

import (
	"slices"
	"testing"
)

func TestText(t *testing.T) {
	for _, c := range []struct {
		in, want string
	}{
		{"write to alice.smith+bot@example.co.uk today", "write to <EMAIL_1> today"},
		{"我的手机 13812345678，打给我", "我的手机 <PHONE_1>，打给我"},
		{"call +86 138-1234-5678 or 138 1234 5678", "call <PHONE_1> or <PHONE_2>"},
		{"London: +44 20 7946 0958.", "London: <PHONE_1>."},
		{"US +1 (415) 555-2671", "US <PHONE_1>"},
		// 11010519491231002X is the standard's sample number (valid check
		// character); changing its last digit breaks the check.
		{"身份证 11010519491231002X 请保密", "身份证 <ID_CARD_1> 请保密"},
		{"not an id 110105194912310021", "not an id 110105194912310021"},
		// 4111 1111 1111 1111 passes Luhn; 4111 1111 1111 1112 does not.
		{"card 4111 1111 1111 1111 ok", "card <BANK_CARD_1> ok"},
		{"card 6222021234567890128", "card <BANK_CARD_1>"},
		{"order 4111 1111 1111 1112", "order 4111 1111 1111 1112"},
		{"server at 192.168.1.20, gateway 10.0.0.1", "server at <IP_1>, gateway <IP_2>"},
		{"version 1.2.3.4567 and 999.1.1.1", "version 1.2.3.4567 and 999.1.1.1"},
		{"v6 2001:db8::8a2e:370:7334 here", "v6 <IP_1> here"},
		{"at 12:30:45 sharp", "at 12:30:45 sharp"},
		{"https://x.example/cb?code=abc123&state=ok&access_token=eyJhb.c", "https://x.example/cb?code=[TOKEN_1]&state=ok&access_token=[TOKEN_2]"},
		{"see https://go.dev/doc?page=2", "see https://go.dev/doc?page=2"},
		{"@张三 你好，@李四 也来", "@[USER_1] 你好，@[USER_2] 也来"},
		{"thanks <@80351110224678912> and <@!123>", "thanks @[USER_1] and @[USER_2]"},
		// The same value gets the same placeholder.
		{"bob@x.io wrote to bob@x.io and eve@x.io", "<EMAIL_1> wrote to <EMAIL_1> and <EMAIL_2>"},
		{"price 13.5 yuan, 2 @ 3", "price 13.5 yuan, 2 @ 3"},
		{"order 20260301123456", "order 20260301123456"},
		{"", ""},
	} {
		s := New()
		if got := s.Text(c.in); got != c.want {
			t.Errorf("Text(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestConsistentUntilReset(t *testing.T) {
	s := New()
	a := s.Text("ask carol@example.com")
	b := s.Text("carol@example.com said hi to dan@example.com")
	if a != "ask <EMAIL_1>" || b != "<EMAIL_1> said hi to <EMAIL_2>" {
		t.Errorf("within a row: %q, %q", a, b)
	}
	s.Reset()
	if c := s.Text("dan@example.com"); c != "<EMAIL_1>" {
		t.Errorf("after Reset: %q", c)
	}
	if got := s.Counts()[Email]; got != 4 {
		t.Errorf("email count %d, want 4", got)
	}
	if sum := s.Summary(); sum != "scrubbed 4 email" {
		t.Errorf("summary %q", sum)
	}
	if sum := New().Summary(); sum != "nothing to scrub" {
		t.Errorf("empty summary %q", sum)
	}
}

func TestFound(t *testing.T) {
	got := Found("mail a@b.cn, phone 13912345678, ip 8.8.8.8")
	want := []Kind{Email, Phone, IP}
	if !slices.Equal(got, want) {
		t.Errorf("Found: %v, want %v", got, want)
	}
}

// FuzzText checks the scrubber's two promises: text without a match is
// returned unchanged, and no match is left in what it returns.
func FuzzText(f *testing.F) {
	for _, seed := range []string{
		"write to alice@example.com", "13812345678", "+44 20 7946 0958", "11010519491231002X",
		"4111 1111 1111 1111", "192.168.1.1", "2001:db8::1", "?token=abc&x=1", "@张三 你好", "<@123>",
		"a@b.c@d.ef", "1.1.1.1.1", "::::", "@@@", "+8613812345678901234", "x@y.z 1.2.3.4 @a",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s := New()
		out := s.Text(in)
		if len(Found(in)) == 0 && out != in {
			t.Fatalf("no match in %q, but it became %q", in, out)
		}
		if left := Found(out); len(left) > 0 {
			t.Fatalf("%q scrubbed to %q still has %v", in, out, left)
		}
	})
}
