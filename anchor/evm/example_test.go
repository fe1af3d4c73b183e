package evm_test

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"

	"github.com/tallygw/tally/anchor/evm"
	"github.com/tallygw/tally/anchor/ledger"
)

// An auditor checks a receipt offline: the EVM steps with the chain id and
// the gateway's address pinned, then that the transaction carries the
// checkpoint. The receipt was recorded from geth --dev.
func ExampleVerify() {
	b, err := os.ReadFile("testdata/receipt.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	var r ledger.Receipt
	if err := json.Unmarshal(b, &r); err != nil {
		fmt.Println(err)
		return
	}
	trust := ledger.Trust{ChainID: "1337", Sender: "0x11bc2ce7c95ea06fd9ec6a962b2be77b7e0ed1df"}
	var steps ledger.Steps
	err = evm.Verify(&steps, &r, trust)
	if err == nil {
		checkpoint := ledger.Anchored{
			Origin:     "gw.example/tally",
			Size:       42,
			Root:       sha256.Sum256([]byte("root")),
			NoteSHA256: sha256.Sum256([]byte("note")),
		}
		err = ledger.CheckPayload(&steps, &r, checkpoint)
	}
	for _, s := range steps.List {
		fmt.Printf("%-16s %v\n", s.Name, s.OK)
	}
	fmt.Println("error:", err)
	// Output:
	// evm transaction  true
	// chain id         true
	// sender           true
	// checkpoint in tx true
	// error: <nil>
}
