package modbus_test

import (
	"errors"
	"fmt"

	"github.com/tallygw/tally/sensors/modbus"
)

// Reading a temperature/humidity transmitter's two input registers, with
// the frames of the Modbus vectors.
func Example() {
	req := modbus.Request{Slave: 1, Function: modbus.FuncReadInputRegisters, Start: 1, Count: 2}
	frame, _ := req.Encode()
	fmt.Printf("request  % X\n", frame)

	resp := []byte{0x01, 0x04, 0x04, 0xFF, 0x38, 0x02, 0x58}
	resp = modbus.AppendCRC(resp)
	values, err := modbus.ParseResponse(resp, req)
	if err != nil {
		fmt.Println(err)
		return
	}
	points := []modbus.Point{
		{Field: "celsius", Function: 4, Register: 1, Signed: true, Scale: 0.1},
		{Field: "humidity_pct", Function: 4, Register: 2, Scale: 0.1},
	}
	regs := map[modbus.Address]uint16{{Function: 4, Register: 1}: values[0], {Function: 4, Register: 2}: values[1]}
	data, _ := modbus.Data(points, regs)
	fmt.Println("celsius", data["celsius"], "humidity_pct", data["humidity_pct"])

	_, err = modbus.ParseResponse([]byte{0x01, 0x84, 0x02, 0xC2, 0xC1}, req)
	var ex *modbus.ExceptionError
	if errors.As(err, &ex) {
		fmt.Println(ex.Code, "-", err)
	}
	// Output:
	// request  01 04 00 01 00 02 20 0B
	// celsius -20 humidity_pct 60
	// illegal data address - modbus: slave 1 refused function 0x04: exception 0x02 (illegal data address)
}
