package evm

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// maxResponse bounds a JSON-RPC response; blocks are asked for without
// their transactions, so answers are a few KiB.
const maxResponse = 8 << 20

// RPCError is an error a node answered a JSON-RPC call with.
type RPCError struct {
	Method  string
	Code    int
	Message string
}

func (e *RPCError) Error() string {
	return fmt.Sprintf("%s: the node says: %s (code %d)", e.Method, e.Message, e.Code)
}

// client is a minimal Ethereum JSON-RPC client over HTTP: just the calls
// the backend and VerifyOnline make.
type client struct {
	endpoint string        // the URL calls go to
	url      string        // endpoint for messages, without a password
	timeout  time.Duration // per call
	hc       *http.Client
	id       atomic.Uint64
}

func newClient(endpoint string, timeout time.Duration) *client {
	return &client{endpoint: endpoint, url: redact(endpoint), timeout: timeout, hc: &http.Client{}}
}

// redact hides the password of a URL like https://user:pass@host.
func redact(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// call runs method with params and decodes its result into result. A null
// result leaves result untouched and returns errNull.
func (c *client) call(ctx context.Context, result any, method string, params ...any) error {
	if params == nil {
		params = []any{}
	}
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": c.id.Add(1), "method": method, "params": params})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("evm rpc %s: %w", c.url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("the EVM node at %s does not answer %s (check anchor.evm.rpc, the node and the network): %w", c.url, method, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return fmt.Errorf("evm rpc %s %s: read answer: %w", c.url, method, err)
	}
	if len(b) > maxResponse {
		return fmt.Errorf("evm rpc %s %s: answer larger than %d bytes", c.url, method, maxResponse)
	}
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("evm rpc %s %s: HTTP %s: %q", c.url, method, resp.Status, clip(b))
		}
		return fmt.Errorf("evm rpc %s %s: not a JSON-RPC answer: %w", c.url, method, err)
	}
	if r.Error != nil {
		return fmt.Errorf("evm rpc %s: %w", c.url, &RPCError{Method: method, Code: r.Error.Code, Message: r.Error.Message})
	}
	if len(r.Result) == 0 || string(r.Result) == "null" {
		return errNull
	}
	if err := json.Unmarshal(r.Result, result); err != nil {
		return fmt.Errorf("evm rpc %s %s: unexpected result %q: %w", c.url, method, clip(r.Result), err)
	}
	return nil
}

// errNull is returned by call when the node answers null (no such
// transaction, receipt or block).
var errNull = errors.New("null result")

func clip(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// quantity is a JSON-RPC QUANTITY ("0x2a") that fits in a uint64.
type quantity uint64

func (q *quantity) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return fmt.Errorf("quantity %s is not a string", b)
	}
	digits, ok := strings.CutPrefix(s, "0x")
	if !ok || digits == "" || len(digits) > 16 {
		return fmt.Errorf("quantity %q is not 0x-prefixed hex of at most 64 bits", s)
	}
	v, err := strconv.ParseUint(digits, 16, 64)
	if err != nil {
		return fmt.Errorf("quantity %q: %w", s, err)
	}
	*q = quantity(v)
	return nil
}

// bigQuantity is a JSON-RPC QUANTITY of any size.
type bigQuantity struct{ big.Int }

func (q *bigQuantity) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return fmt.Errorf("quantity %s is not a string", b)
	}
	digits, ok := strings.CutPrefix(s, "0x")
	if !ok || digits == "" || len(digits) > 64 {
		return fmt.Errorf("quantity %q is not 0x-prefixed hex of at most 256 bits", s)
	}
	if _, ok := q.SetString(digits, 16); !ok {
		return fmt.Errorf("quantity %q is not hex", s)
	}
	return nil
}

// data is JSON-RPC DATA: 0x-prefixed hex bytes.
type data []byte

func (d *data) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return fmt.Errorf("data %s is not a string", b)
	}
	v, err := parseHex(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

func (d data) MarshalJSON() ([]byte, error) { return json.Marshal(hex0x(d)) }

// parseHex decodes 0x-prefixed hex.
func parseHex(s string) ([]byte, error) {
	digits, ok := strings.CutPrefix(s, "0x")
	if !ok {
		return nil, fmt.Errorf("%q is not 0x-prefixed hex", clip([]byte(s)))
	}
	b, err := hex.DecodeString(digits)
	if err != nil {
		return nil, fmt.Errorf("%q is not hex: %w", clip([]byte(s)), err)
	}
	return b, nil
}

func hex0x(b []byte) string { return "0x" + hex.EncodeToString(b) }

func qty(v uint64) string { return "0x" + strconv.FormatUint(v, 16) }

// rpcTx is the part of eth_getTransactionByHash's answer the backend reads.
type rpcTx struct {
	Hash        data      `json:"hash"`
	From        data      `json:"from"`
	Input       data      `json:"input"`
	BlockNumber *quantity `json:"blockNumber"` // null while pending
}

// rpcReceipt is the part of eth_getTransactionReceipt's answer the backend
// reads.
type rpcReceipt struct {
	TransactionHash  data      `json:"transactionHash"`
	BlockHash        data      `json:"blockHash"`
	BlockNumber      quantity  `json:"blockNumber"`
	TransactionIndex quantity  `json:"transactionIndex"`
	GasUsed          quantity  `json:"gasUsed"`
	Status           *quantity `json:"status"` // absent before Byzantium

}

// rpcBlock is the part of eth_getBlockByNumber's answer the backend reads.
type rpcBlock struct {
	Hash      data     `json:"hash"`
	Number    quantity `json:"number"`
	Timestamp quantity `json:"timestamp"`
}

func (c *client) chainID(ctx context.Context) (uint64, error) {
	var q quantity
	err := c.call(ctx, &q, "eth_chainId")
	return uint64(q), err
}

func (c *client) nonceAt(ctx context.Context, addr [20]byte, tag string) (uint64, error) {
	var q quantity
	err := c.call(ctx, &q, "eth_getTransactionCount", hex0x(addr[:]), tag)
	return uint64(q), err
}

func (c *client) blockNumber(ctx context.Context) (uint64, error) {
	var q quantity
	err := c.call(ctx, &q, "eth_blockNumber")
	return uint64(q), err
}

func (c *client) gasPrice(ctx context.Context) (*big.Int, error) {
	var q bigQuantity
	if err := c.call(ctx, &q, "eth_gasPrice"); err != nil {
		return nil, err
	}
	return &q.Int, nil
}

// estimateGas asks for the gas a call needs. It names the calldata "data",
// which geth, Besu and GoQuorum all accept.
func (c *client) estimateGas(ctx context.Context, from, to [20]byte, input []byte) (uint64, error) {
	var q quantity
	msg := map[string]string{"from": hex0x(from[:]), "to": hex0x(to[:]), "data": hex0x(input), "value": "0x0"}
	err := c.call(ctx, &q, "eth_estimateGas", msg)
	return uint64(q), err
}

func (c *client) sendRaw(ctx context.Context, raw []byte) ([]byte, error) {
	var h data
	err := c.call(ctx, &h, "eth_sendRawTransaction", hex0x(raw))
	return h, err
}

// txByHash returns nil, nil when the node does not know the transaction.
func (c *client) txByHash(ctx context.Context, hash string) (*rpcTx, error) {
	var t rpcTx
	switch err := c.call(ctx, &t, "eth_getTransactionByHash", hash); {
	case errors.Is(err, errNull):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return &t, nil
}

// receipt returns nil, nil when the transaction is not in a block (yet).
func (c *client) receipt(ctx context.Context, hash string) (*rpcReceipt, error) {
	var r rpcReceipt
	switch err := c.call(ctx, &r, "eth_getTransactionReceipt", hash); {
	case errors.Is(err, errNull):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return &r, nil
}

// blockByNumber returns the block header fields; an unknown block is an
// error.
func (c *client) blockByNumber(ctx context.Context, n uint64) (*rpcBlock, error) {
	var b rpcBlock
	switch err := c.call(ctx, &b, "eth_getBlockByNumber", qty(n), false); {
	case errors.Is(err, errNull):
		return nil, fmt.Errorf("evm rpc %s: the node has no block %d", c.url, n)
	case err != nil:
		return nil, err
	}
	return &b, nil
}

func (c *client) close() { c.hc.CloseIdleConnections() }
