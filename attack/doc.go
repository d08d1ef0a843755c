// Package attack holds membership-inference attacks and their error rates.
// An attack looks at two samples (for example one forget example's values
// under N unlearned and N retrained models), draws decision rules, and
// reports each rule's confusion counts; it does not know where the numbers
// came from or how the counts become a score (package scoring does that).
//
// This file set holds the NeurIPS 2023 competition's two decision-rule
// families (CompetitionRules); classifier attacks and LiRA live beside them.
package attack
