// Package attack holds membership-inference attacks and their error rates.
// An attack (the Attack interface) looks at two samples (for example one
// forget example's features under N unlearned and N retrained models),
// draws decision rules and reports each rule's confusion counts (a
// RuleSet), scores for a ROC where it has them, and summaries (AUC, TPR at
// fixed FPR, balanced accuracy, advantage); it does not know where the
// numbers came from or how the counts become a score (package scoring does
// that, the same way for every attack).
//
// The attacks: the NeurIPS 2023 competition's decision rules
// (CompetitionRules, DecisionRules); classifiers trained with golearn
// (logistic regression, linear SVM, kNN, random forest) under stratified
// cross-validation, per forget example (CrossValidated, PerExample) or
// pooled over examples (Pooled); LiRA; the starting kit's simple MIA and
// MIA-efficacy; the KL and Jensen-Shannon divergences of mean predictive
// distributions; and the population metrics of the newer benchmarks, KLoM
// (EasyDUB's binned KL of margins, BinnedKL and KLoM) and ToW (RUM's
// tug-of-war of accuracies, ToW with TInterval). Subpackage feature computes the features from
// logits; subpackage suite runs them all on a method's populations.
package attack
