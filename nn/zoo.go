package nn

import (
	"fmt"

	"unlearnbench/internal/usererr"
	"unlearnbench/nn/graph"
)

// Architectures the zoo builds.
const (
	ArchMLP           = "mlp"
	ArchCNN           = "cnn"
	ArchResNet18      = "resnet18"       // torchvision's: 7x7 stride-2 stem and max-pool
	ArchResNet18CIFAR = "resnet18-cifar" // CIFAR form: 3x3 stride-1 stem, no max-pool
)

// Archs lists the zoo's architectures.
var Archs = []string{ArchMLP, ArchCNN, ArchResNet18, ArchResNet18CIFAR}

// New builds a zoo model for inputs of shape [C, H, W] and the given number
// of classes, He-initialised from seed.
func New(arch string, shape []int64, classes int, seed uint64) (*Model, error) {
	if len(shape) != 3 || shape[0] < 1 || shape[1] < 1 || shape[2] < 1 {
		return nil, usererr.Errorf("model input shape %v: want [channels, height, width]", shape)
	}
	if classes < 2 {
		return nil, usererr.Errorf("model classes %d: want at least 2", classes)
	}
	switch arch {
	case ArchMLP:
		return MLP(shape, []int64{256, 128}, classes, seed), nil
	case ArchCNN:
		return SmallCNN(shape, classes, seed), nil
	case ArchResNet18:
		return ResNet18(shape, classes, false, seed), nil
	case ArchResNet18CIFAR:
		return ResNet18(shape, classes, true, seed), nil
	}
	return nil, usererr.Errorf("model %q: want one of %v", arch, Archs)
}

// MLP is Flatten → (Linear → ReLU)* → Linear.
func MLP(shape []int64, hidden []int64, classes int, seed uint64) *Model {
	b := newBuilder("mlp", shape, classes, seed)
	x := b.g.Op1("Flatten", []string{"input"}, graph.AInt("axis", 1))
	in := numel(shape)
	for i, h := range hidden {
		x = b.relu(b.linear(fmt.Sprintf("fc%d", i+1), x, in, h))
		in = h
	}
	return b.finish(b.linear("out", x, in, int64(classes)))
}

// SmallCNN is two blocks of 3x3 Conv → BatchNorm → ReLU → 2x2 MaxPool (16
// and 32 channels), then Linear(128) → ReLU → Linear(classes).
func SmallCNN(shape []int64, classes int, seed uint64) *Model {
	b := newBuilder("cnn", shape, classes, seed)
	x := "input"
	c, h, w := shape[0], shape[1], shape[2]
	for i, out := range []int64{16, 32} {
		name := fmt.Sprintf("conv%d", i+1)
		x = b.relu(b.bn(fmt.Sprintf("bn%d", i+1), b.conv(name, x, c, out, 3, 1, 1, false), out))
		x = b.g.Op1("MaxPool", []string{x}, graph.AInts("kernel_shape", 2, 2), graph.AInts("strides", 2, 2))
		c, h, w = out, h/2, w/2
	}
	x = b.g.Op1("Flatten", []string{x}, graph.AInt("axis", 1))
	x = b.relu(b.linear("fc1", x, c*h*w, 128))
	return b.finish(b.linear("fc2", x, 128, int64(classes)))
}

// ResNet18 is He et al.'s 18-layer residual network with torchvision's
// layout and parameter names (conv1, bn1, layer1.0.conv1, ..., fc). The cifar
// form replaces the 7x7 stride-2 stem and its max-pool by a 3x3 stride-1 stem.
func ResNet18(shape []int64, classes int, cifar bool, seed uint64) *Model {
	name := "resnet18"
	if cifar {
		name = "resnet18_cifar"
	}
	b := newBuilder(name, shape, classes, seed)
	var x string
	if cifar {
		x = b.relu(b.bn("bn1", b.conv("conv1", "input", shape[0], 64, 3, 1, 1, false), 64))
	} else {
		x = b.relu(b.bn("bn1", b.conv("conv1", "input", shape[0], 64, 7, 2, 3, false), 64))
		x = b.g.Op1("MaxPool", []string{x}, graph.AInts("kernel_shape", 3, 3), graph.AInts("strides", 2, 2), graph.AInts("pads", 1, 1, 1, 1))
	}
	in := int64(64)
	for li, out := range []int64{64, 128, 256, 512} {
		for bi := 0; bi < 2; bi++ {
			stride := int64(1)
			if li > 0 && bi == 0 {
				stride = 2
			}
			p := fmt.Sprintf("layer%d.%d.", li+1, bi)
			y := b.relu(b.bn(p+"bn1", b.conv(p+"conv1", x, in, out, 3, stride, 1, false), out))
			y = b.bn(p+"bn2", b.conv(p+"conv2", y, out, out, 3, 1, 1, false), out)
			short := x
			if stride != 1 || in != out {
				short = b.bn(p+"downsample.1", b.conv(p+"downsample.0", x, in, out, 1, stride, 0, false), out)
			}
			x = b.relu(b.g.Op1("Add", []string{y, short}))
			in = out
		}
	}
	x = b.g.Op1("GlobalAveragePool", []string{x})
	x = b.g.Op1("Flatten", []string{x}, graph.AInt("axis", 1))
	return b.finish(b.linear("fc", x, 512, int64(classes)))
}
