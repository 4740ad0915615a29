package kafka

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// tokenRequestTimeout bounds one request to the OAuth token endpoint.
const tokenRequestTimeout = 10 * time.Second

// tokenSource fetches OAUTHBEARER tokens with the OAuth 2 client-credentials grant (RFC 6749 section 4.4:
// client id and secret in HTTP Basic authentication) and caches each until a minute before it expires
// (or for half its life when that is shorter), so that every connection of every client reuses it.
type tokenSource struct {
	url, clientID, clientSecret, scope string
	client                             *http.Client

	mu      sync.Mutex
	token   string
	refresh time.Time // fetch a new token from then on
}

func newTokenSource(tokenURL, clientID, clientSecret, scope string) *tokenSource {
	return &tokenSource{url: tokenURL, clientID: clientID, clientSecret: clientSecret, scope: scope,
		client: &http.Client{Timeout: tokenRequestTimeout}}
}

// Token implements sarama.AccessTokenProvider: the cached token, or a new one fetched within
// tokenRequestTimeout.
func (s *tokenSource) Token() (*sarama.AccessToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && time.Now().Before(s.refresh) {
		return &sarama.AccessToken{Token: s.token}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), tokenRequestTimeout)
	defer cancel()
	tok, life, err := s.fetch(ctx)
	if err != nil {
		return nil, err
	}
	s.token = tok
	s.refresh = time.Now().Add(max(life-time.Minute, life/2))
	return &sarama.AccessToken{Token: tok}, nil
}

// fetch asks the token endpoint for a token and its lifetime (an hour when the answer names none).
func (s *tokenSource) fetch(ctx context.Context) (string, time.Duration, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if s.scope != "" {
		form.Set("scope", s.scope)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, fmt.Errorf("OAuth token endpoint %s: %w", s.url, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(s.clientID), url.QueryEscape(s.clientSecret))
	resp, err := s.client.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("OAuth token endpoint %s: %w", s.url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", 0, fmt.Errorf("OAuth token endpoint %s: read the answer: %w", s.url, err)
	}
	var answer struct {
		AccessToken string      `json:"access_token"`
		ExpiresIn   json.Number `json:"expires_in"`
		Error       string      `json:"error"`
		Description string      `json:"error_description"`
	}
	_ = json.Unmarshal(body, &answer)
	if resp.StatusCode != http.StatusOK || answer.AccessToken == "" {
		why := answer.Error
		if answer.Description != "" {
			why += ": " + answer.Description
		}
		if why == "" {
			why = "no access_token in the answer"
		}
		err := fmt.Errorf("OAuth token endpoint %s refused client %q (HTTP %d): %s", s.url, s.clientID, resp.StatusCode, why)
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
			return "", 0, &TokenRefusedError{err: err}
		}
		return "", 0, err
	}
	life := time.Hour
	if secs, err := answer.ExpiresIn.Int64(); err == nil && secs > 0 {
		life = time.Duration(secs) * time.Second
	}
	return answer.AccessToken, life, nil
}

// TokenRefusedError means the OAuth token endpoint refused the client (an HTTP 4xx other than 429: wrong
// client id or secret, unknown scope): not transient, never retried (see NotTransient).
type TokenRefusedError struct{ err error }

func (e *TokenRefusedError) Error() string { return e.err.Error() }

// tokenRefusedText is in the text of every TokenRefusedError, for errors flattened by sarama or goka.
const tokenRefusedText = "OAuth token endpoint "
