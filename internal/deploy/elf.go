package deploy

import (
	"debug/elf"
	"fmt"
	"strconv"
	"strings"
)

// ELFInfo is what the deployment needs to know about an ELF file: that it
// is for x86-64 Linux, what it loads, and the newest glibc it needs.
type ELFInfo struct {
	Class       elf.Class
	Machine     elf.Machine
	OSABI       elf.OSABI
	Type        elf.Type
	Interpreter string   // PT_INTERP: the dynamic loader ("" for a shared library)
	Needed      []string // DT_NEEDED libraries
	// VersionNeeds are the symbol versions the file needs, by the library
	// that must define them (the ELF's SHT_GNU_verneed section): for
	// example "libc.so.6" → GLIBC_2.2.5, GLIBC_2.3.2.
	VersionNeeds map[string][]string
	// GlibcFloor is the newest GLIBC_x.y version the file needs, from any
	// library: the oldest glibc it runs with ("" if it needs none).
	GlibcFloor string
}

// elfKind is what CheckTarget expects a file to be.
type elfKind int

const (
	elf64Exec   elfKind = iota // an executable (ET_EXEC, or ET_DYN with an interpreter: a PIE)
	elf64Shared                // a shared library
)

// InspectELF reads the ELF headers, the program interpreter, the needed
// libraries and the symbol versions needed of the file at path.
func InspectELF(path string) (ELFInfo, error) {
	f, err := elf.Open(path)
	if err != nil {
		return ELFInfo{}, fmt.Errorf("read ELF %s: %w", path, err)
	}
	defer f.Close()
	info := ELFInfo{Class: f.Class, Machine: f.Machine, OSABI: f.OSABI, Type: f.Type}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				return ELFInfo{}, fmt.Errorf("read the interpreter of %s: %w", path, err)
			}
			info.Interpreter = strings.TrimRight(string(b), "\x00")
		}
	}
	if info.Needed, err = f.ImportedLibraries(); err != nil {
		return ELFInfo{}, fmt.Errorf("read the needed libraries of %s: %w", path, err)
	}
	if f.SectionByType(elf.SHT_GNU_VERNEED) != nil {
		needs, err := f.DynamicVersionNeeds()
		if err != nil {
			return ELFInfo{}, fmt.Errorf("read the symbol versions %s needs: %w", path, err)
		}
		info.VersionNeeds = map[string][]string{}
		for _, n := range needs {
			for _, d := range n.Needs {
				info.VersionNeeds[n.Name] = append(info.VersionNeeds[n.Name], d.Dep)
				if v, ok := strings.CutPrefix(d.Dep, "GLIBC_"); ok && CompareVersions(v, info.GlibcFloor) > 0 {
					info.GlibcFloor = v
				}
			}
		}
	}
	return info, nil
}

// CheckTarget reports whether the file is a 64-bit little-endian x86-64
// Linux ELF of the given kind.
func (e ELFInfo) CheckTarget(kind elfKind) error {
	switch {
	case e.Class != elf.ELFCLASS64:
		return fmt.Errorf("ELF class %v, want %v", e.Class, elf.ELFCLASS64)
	case e.Machine != elf.EM_X86_64:
		return fmt.Errorf("ELF machine %v, want %v (%s)", e.Machine, elf.EM_X86_64, TargetArch)
	case e.OSABI != elf.ELFOSABI_NONE && e.OSABI != elf.ELFOSABI_LINUX:
		return fmt.Errorf("ELF OS ABI %v, want %v or %v", e.OSABI, elf.ELFOSABI_NONE, elf.ELFOSABI_LINUX)
	}
	switch kind {
	case elf64Exec:
		if e.Type != elf.ET_EXEC && !(e.Type == elf.ET_DYN && e.Interpreter != "") {
			return fmt.Errorf("ELF type %v without an interpreter: not an executable", e.Type)
		}
		if e.Interpreter != "/lib64/ld-linux-x86-64.so.2" {
			return fmt.Errorf("interpreter %q, want the glibc x86-64 loader /lib64/ld-linux-x86-64.so.2", e.Interpreter)
		}
	case elf64Shared:
		if e.Type != elf.ET_DYN {
			return fmt.Errorf("ELF type %v, want %v (a shared library)", e.Type, elf.ET_DYN)
		}
	}
	return nil
}

// CompareVersions compares dotted numeric versions ("2.34" < "2.36",
// "2.3.2" < "2.17").
func CompareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}
