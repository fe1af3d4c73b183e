package cometbft

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// rpcError is an error the node answered with.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    string `json:"data"`
}

func (e *rpcError) Error() string {
	if e.Data != "" {
		return fmt.Sprintf("%s (%s)", e.Data, e.Message)
	}
	return e.Message
}

// client speaks CometBFT's JSON-RPC over HTTP GET (the URI form).
type client struct {
	base string
	http *http.Client
}

func newClient(rpc string, hc *http.Client) (*client, error) {
	u, err := url.Parse(rpc)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("cometbft rpc %q is not an http(s)://host:port URL", rpc)
	}
	return &client{base: strings.TrimRight(rpc, "/"), http: hc}, nil
}

// call performs method with params and decodes the result into out.
func (c *client) call(ctx context.Context, method string, params url.Values, out any) error {
	u := c.base + "/" + method
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("the CometBFT node at %s does not answer (check anchor.cometbft.rpc, the node and the network): %w", c.base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("cometbft rpc %s: %w", method, err)
	}
	var env struct {
		Result json.RawMessage `json:"result"`
		Error  *rpcError       `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("cometbft rpc %s: HTTP %d, not a JSON-RPC answer: %.200q", method, resp.StatusCode, body)
	}
	if env.Error != nil {
		return env.Error
	}
	if len(env.Result) == 0 {
		return fmt.Errorf("cometbft rpc %s: empty result", method)
	}
	if err := json.Unmarshal(env.Result, out); err != nil {
		return fmt.Errorf("cometbft rpc %s: decode result: %w", method, err)
	}
	return nil
}

func hexParam(b []byte) string { return "0x" + hex.EncodeToString(b) }

func heightParam(h int64) url.Values {
	return url.Values{"height": {strconv.FormatInt(h, 10)}}
}

// isNotFound reports whether err is the node saying a tx is not indexed.
func isNotFound(err error) bool {
	var re *rpcError
	return errors.As(err, &re) && strings.Contains(re.Data, "not found")
}

// isInCache reports whether err is the mempool saying it already has the tx.
func isInCache(err error) bool {
	var re *rpcError
	return errors.As(err, &re) && strings.Contains(re.Data, "already exists in cache")
}
