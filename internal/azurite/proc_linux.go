package azurite

import (
	"os"
	"syscall"
)

// sysProcAttr puts Azurite in its own process group, so that Stop reaches
// every process it started, and has the kernel kill it if this process dies
// without calling Stop.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func signalGroup(p *os.Process, sig syscall.Signal) {
	if err := syscall.Kill(-p.Pid, sig); err != nil {
		p.Signal(sig)
	}
}
