package deploy_test

import (
	"fmt"
	"strconv"
	"strings"
)

// cronFields are the six fields of an Azure Functions timer schedule
// (NCRONTAB with seconds): {second} {minute} {hour} {day} {month} {day-of-week}.
var cronFields = []struct {
	name     string
	min, max int
	names    []string // accepted names, index = value - min
}{
	{"second", 0, 59, nil},
	{"minute", 0, 59, nil},
	{"hour", 0, 23, nil},
	{"day", 1, 31, nil},
	{"month", 1, 12, []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}},
	{"day-of-week", 0, 6, []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}},
}

// ValidateSchedule checks a timer trigger schedule the way the Functions
// host reads it: six space-separated NCRONTAB fields, each a list of `*`,
// a value, or a range, optionally with a /step; months and days of the
// week may be names. (The host also takes a TimeSpan such as "01:00:00",
// but only on dedicated plans, so it is rejected here.)
func ValidateSchedule(expr string) error {
	fields := strings.Fields(expr)
	if len(fields) != len(cronFields) {
		return fmt.Errorf("schedule %q: %d fields, want 6 ({second} {minute} {hour} {day} {month} {day-of-week})", expr, len(fields))
	}
	for i, f := range fields {
		spec := cronFields[i]
		for _, item := range strings.Split(f, ",") {
			if err := validateCronItem(item, spec.min, spec.max, spec.names); err != nil {
				return fmt.Errorf("schedule %q: %s field %q: %w", expr, spec.name, f, err)
			}
		}
	}
	return nil
}

func validateCronItem(item string, min, max int, names []string) error {
	base, step, hasStep := strings.Cut(item, "/")
	if hasStep {
		n, err := strconv.Atoi(step)
		if err != nil || n < 1 || n > max-min+1 {
			return fmt.Errorf("step %q is not in 1..%d", step, max-min+1)
		}
	}
	if base == "*" {
		return nil
	}
	lo, hi, isRange := strings.Cut(base, "-")
	a, err := cronValue(lo, min, max, names)
	if err != nil {
		return err
	}
	if !isRange {
		return nil
	}
	b, err := cronValue(hi, min, max, names)
	if err != nil {
		return err
	}
	if a > b {
		return fmt.Errorf("range %q runs backwards", base)
	}
	return nil
}

func cronValue(s string, min, max int, names []string) (int, error) {
	for i, n := range names {
		if strings.EqualFold(s, n) {
			return min + i, nil
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if v < min || v > max {
		return 0, fmt.Errorf("%d is not in %d..%d", v, min, max)
	}
	return v, nil
}
