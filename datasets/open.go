package datasets

import (
	"fmt"
	"strings"

	"unlearnbench/internal/arrays"
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
	// GroupsFile, when set, gives group ids to the training part of data
	// that has none (see AttachGroups).
	GroupsFile string
}

// Open loads the data set spec names.
func Open(spec Spec) (*Source, error) {
	src, err := open(spec)
	if err != nil || spec.GroupsFile == "" {
		return src, err
	}
	return src, AttachGroups(src, spec.GroupsFile)
}

func open(spec Spec) (*Source, error) {
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

// AttachGroups gives the training part group ids read from file (.npy, or
// .npz with a "groups" member): one integer per training example, e.g. the
// person each image shows. Data that has group ids already is refused.
func AttachGroups(src *Source, file string) error {
	d := src.Train
	if d.Groups != nil {
		return usererr.Errorf("%s: %s already has group ids; drop the groups file", file, d.Name)
	}
	a, err := arrays.Load(file, "groups")
	if err != nil {
		return err
	}
	if len(a.Shape) != 1 || a.Shape[0] != d.N {
		return usererr.Errorf("%s: shape %s; want (%d,), one group id per training example of %s", a.Name, a.ShapeString(), d.N, src.Name)
	}
	g, err := a.Ints()
	if err != nil {
		return err
	}
	d.Groups = g
	return nil
}
