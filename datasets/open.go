package datasets

import (
	"fmt"
	"strings"

	"unlearnbench/internal/usererr"
)

// Names lists the data sets Open knows, in the order help texts show them.
var Names = []string{"fashion-mnist", "mnist", "cifar10", "cifar100", "cifar100-coarse", "folder", "npz", "csv"}

// Spec names a data set and where its files are.
type Spec struct {
	// Name is one of Names.
	Name string
	// Data is the folder or file to read; "" means the default, which only
	// fashion-mnist has (FashionMNISTDir).
	Data string
	// Folder data: image size, channels and the optional mapping CSV.
	Height, Width, Channels int
	Mapping                 string
	// CSV data: the label and group columns.
	LabelColumn, GroupColumn string
}

// Open loads the data set spec names.
func Open(spec Spec) (*Source, error) {
	switch strings.ToLower(spec.Name) {
	case "fashion-mnist", "fashionmnist", "fmnist":
		return LoadFashionMNIST(spec.Data)
	case "mnist":
		return LoadMNIST(spec.Data)
	case "cifar10", "cifar-10":
		return LoadCIFAR(spec.Data, CIFAR10)
	case "cifar100", "cifar-100":
		return LoadCIFAR(spec.Data, CIFAR100)
	case "cifar100-coarse", "cifar-100-coarse":
		return LoadCIFAR(spec.Data, CIFAR100Coarse)
	case "folder":
		return LoadFolder(FolderOptions{Dir: spec.Data, Height: spec.Height, Width: spec.Width, Channels: spec.Channels, Mapping: spec.Mapping})
	case "npz", "npy":
		return LoadArrays(spec.Data)
	case "csv":
		return LoadCSV(CSVOptions{Path: spec.Data, LabelColumn: spec.LabelColumn, GroupColumn: spec.GroupColumn})
	default:
		return nil, usererr.Errorf("unknown data set %q; want one of %s", spec.Name, strings.Join(Names, ", "))
	}
}

// String describes the source in one line: its parts and shapes.
func (s *Source) String() string {
	d := s.Train
	test := "no test part"
	if s.Test != nil {
		test = fmt.Sprintf("%d test", s.Test.N)
	}
	return fmt.Sprintf("%s: %d training, %s; %dx%dx%d, %d classes", s.Name, d.N, test, d.C, d.H, d.W, d.Classes)
}
