// Package iso6346 checks ISO 6346 container numbers: a three-letter owner
// code, a category letter (U freight, J detachable equipment, Z trailer or
// chassis), a six-digit serial number and a check digit.
package iso6346

import "fmt"

// Validate returns nil when id is a well-formed container number with the
// right check digit, and otherwise an error that says what is wrong.
func Validate(id string) error {
	if len(id) != 11 {
		return fmt.Errorf("container number %q: want 11 characters (owner code, category, serial, check digit), like CSQU3054383", id)
	}
	if c := id[3]; c != 'U' && c != 'J' && c != 'Z' {
		if c < 'A' || c > 'Z' {
			return fmt.Errorf("container number %q: character 4 must be the category letter U, J or Z", id)
		}
		return fmt.Errorf("container number %q: category letter %q must be U, J or Z", id, c)
	}
	want, err := CheckDigit(id[:10])
	if err != nil {
		return err
	}
	if id[10] != want {
		return fmt.Errorf("container number %q: check digit is %q, but owner code and serial give %q (a typo?)", id, id[10], want)
	}
	return nil
}

// CheckDigit computes the check digit of the first ten characters of a
// container number: letters take the values 10, 12, 13, … 38, skipping
// multiples of 11; each value is weighted by 2^position; the sum mod 11,
// then mod 10, is the digit.
func CheckDigit(first10 string) (byte, error) {
	if len(first10) != 10 {
		return 0, fmt.Errorf("container number prefix %q: want 10 characters", first10)
	}
	sum := 0
	for i := 0; i < 10; i++ {
		c := first10[i]
		var n int
		switch {
		case i < 4 && c >= 'A' && c <= 'Z':
			n = int(c-'A') + 10
			n += (n - 1) / 10 // skip 11, 22, 33
		case i >= 4 && c >= '0' && c <= '9':
			n = int(c - '0')
		case i < 4:
			return 0, fmt.Errorf("container number %q: character %d must be a capital letter", first10, i+1)
		default:
			return 0, fmt.Errorf("container number %q: character %d must be a digit", first10, i+1)
		}
		sum += n << i
	}
	return byte('0' + sum%11%10), nil
}
