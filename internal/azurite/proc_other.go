//go:build unix && !linux

package azurite

import (
	"os"
	"syscall"
)

// sysProcAttr puts Azurite in its own process group, so that Stop reaches
// every process it started.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

func signalGroup(p *os.Process, sig syscall.Signal) {
	if err := syscall.Kill(-p.Pid, sig); err != nil {
		p.Signal(sig)
	}
}
