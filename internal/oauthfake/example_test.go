package oauthfake_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/credkit/credkit/internal/oauthfake"
)

func Example() {
	fake := oauthfake.New(nil, time.Minute, oauthfake.Expect{Grant: "client_credentials", ClientID: "svc"})
	defer fake.Close()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}}
	resp, _ := http.Post(fake.TokenURL(), "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	resp.Body.Close()
	form.Set("client_id", "someone-else")
	bad, _ := http.Post(fake.TokenURL(), "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	bad.Body.Close()
	fmt.Println(resp.StatusCode, bad.StatusCode, fake.Requests(), fake.Failures())
	// Output: 200 400 2 [wrong client_id]
}
