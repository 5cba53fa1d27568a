package sentencepiece

import "slices"

// doubleArray is a double-array trie over alphabet codes 1..n: the child of
// node s on code c is t = nodes[s].base + c if nodes[t].check == s. The root
// is node 0. A lookup is two array reads, with no maps and no pointers.
type doubleArray struct {
	nodes []daNode
}

type daNode struct {
	base  int32
	check int32 // parent node; -1 for free slots and the root
	id    int32 // piece ending here, -1 if none
}

// trieBuilder is the pointer trie the double array is built from; it only
// lives during Load.
type trieBuilder struct {
	nodes []builderNode
}

type builderNode struct {
	children map[uint16]int32
	id       int32
}

func (b *trieBuilder) init() {
	b.nodes = []builderNode{{id: -1}}
}

func (b *trieBuilder) insert(word []uint16, id int32) {
	if len(word) == 0 {
		return // the JS trie ignores empty pieces too
	}
	n := int32(0)
	for _, c := range word {
		next, ok := b.nodes[n].children[c]
		if !ok {
			next = int32(len(b.nodes))
			b.nodes = append(b.nodes, builderNode{id: -1})
			if b.nodes[n].children == nil {
				b.nodes[n].children = make(map[uint16]int32)
			}
			b.nodes[n].children[c] = next
		}
		n = next
	}
	b.nodes[n].id = id
}

// build lays the trie out as a double array, placing each node's children at
// the lowest base where all their slots are free (first fit, breadth first).
func (b *trieBuilder) build(alphabet int) doubleArray {
	size := len(b.nodes) + alphabet + 1
	da := doubleArray{
		nodes: make([]daNode, size),
	}
	// next[p] == p when slot p is free; otherwise it leads, through a
	// union-find chain, to a higher free slot. Walking only free slots keeps
	// the first-fit search from rescanning the densely packed low slots.
	next := make([]int32, size)
	for i := range da.nodes {
		da.nodes[i] = daNode{check: -1, id: -1}
		next[i] = int32(i)
	}
	grow := func(n int) {
		for len(da.nodes) < n {
			next = append(next, int32(len(da.nodes)))
			da.nodes = append(da.nodes, daNode{check: -1, id: -1})
		}
	}
	freeFrom := func(p int) int {
		grow(p + 1)
		for int(next[p]) != p {
			next[p] = next[next[p]] // path halving
			p = int(next[p])
			grow(p + 1)
		}
		return p
	}
	take := func(p int) { next[p] = int32(p + 1) }
	take(0) // the root

	type item struct{ src, dst int32 }
	queue := []item{{0, 0}}
	labels := make([]uint16, 0, alphabet)
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		src := &b.nodes[it.src]
		da.nodes[it.dst].id = src.id
		if len(src.children) == 0 {
			continue
		}
		labels = labels[:0]
		for c := range src.children {
			labels = append(labels, c)
		}
		slices.Sort(labels)

		var base int
		for p := freeFrom(int(labels[0]) + 1); ; p = freeFrom(p + 1) {
			base = p - int(labels[0]) // >= 1: the root's slot is never a child
			grow(base + int(labels[len(labels)-1]) + 1)
			fits := true
			for _, c := range labels[1:] {
				if t := base + int(c); int(next[t]) != t {
					fits = false
					break
				}
			}
			if fits {
				break
			}
		}
		da.nodes[it.dst].base = int32(base)
		for _, c := range labels {
			t := base + int(c)
			take(t)
			da.nodes[t].check = it.dst
			queue = append(queue, item{src.children[c], int32(t)})
		}
	}
	// Trim unused tail slots; lookups bound-check against len(nodes).
	last := len(da.nodes) - 1
	for last > 0 && da.nodes[last].check < 0 {
		last--
	}
	da.nodes = da.nodes[: last+1 : last+1]
	return da
}
