// Package training owns the train command's pipeline, from a data set's
// training part to a trained model: the model (a zoo architecture that
// normalises its own input, or an imported ONNX classifier and its
// digest), the batches (normalised, augmented, shuffled by seed), the
// evaluation data, the checkpoint written after every epoch and the
// settings it records so that a resume can refuse a changed run, and the
// recipe file format (train's --config) that unlearn's retrain repeats.
//
// It sits between datasets (examples on disk) and nn (models and the
// epoch loop on float tensors), which do not import each other: nn stays
// free of file formats and augmentation. Flags, messages to the terminal,
// progress bars and exit codes stay in cli.
package training
