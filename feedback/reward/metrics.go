package reward

import (
	"math"
	"sort"
)

// PairAccuracy is the fraction of pairs whose chosen score is above the
// rejected one, a tie counting half; NaN without pairs.
func PairAccuracy(chosen, rejected []float64) float64 {
	if len(chosen) == 0 || len(chosen) != len(rejected) {
		return math.NaN()
	}
	var right float64
	for i := range chosen {
		switch {
		case chosen[i] > rejected[i]:
			right++
		case chosen[i] == rejected[i]:
			right += 0.5
		}
	}
	return right / float64(len(chosen))
}

// AUC is the area under the ROC curve of scores of positives (chosen or
// liked answers) against negatives: the probability that a random positive
// scores above a random negative, ties counting half (Mann–Whitney U).
// NaN when either side is empty.
func AUC(pos, neg []float64) float64 {
	if len(pos) == 0 || len(neg) == 0 {
		return math.NaN()
	}
	type scored struct {
		s   float64
		pos bool
	}
	all := make([]scored, 0, len(pos)+len(neg))
	for _, s := range pos {
		all = append(all, scored{s, true})
	}
	for _, s := range neg {
		all = append(all, scored{s, false})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].s < all[j].s })
	// Sum of the positives' ranks, tied scores sharing their mean rank.
	var rankSum float64
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].s == all[i].s {
			j++
		}
		mean := float64(i+j+1) / 2 // ranks i+1..j
		for k := i; k < j; k++ {
			if all[k].pos {
				rankSum += mean
			}
		}
		i = j
	}
	np, nn := float64(len(pos)), float64(len(neg))
	return (rankSum - np*(np+1)/2) / (np * nn)
}
