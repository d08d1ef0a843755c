#!/bin/bash
# GPU check, <2000 chars; carry bin/ort-cuda-sm90.tar.xz (pack-ort-cuda.sh)
# CPU trial: DC_GPU=cpu DC_N=512 DC_E=1
set -u
R=$PWD;exec > >(tee ${OUT:-/tmp}/dc.log) 2>&1
cd $(mktemp -d);G=${DC_GPU:-cuda};N=${DC_N:-12800}
for P in python3 python /usr/bin/python3;do $P -c 'import numpy' 2>/dev/null&&break;done
$P -c "import tarfile;tarfile.open('$R/bin/ort-cuda-sm90.tar.xz').extractall()"
L=/usr/local/nvidia/lib64
for l in cudart.so.13 cublas.so.13 cublasLt.so.13 curand.so.10 cufft.so.12 cudnn.so.9;do
d=$(find /opt /usr -name lib$l 2>/dev/null|head -1);[ "$d" ]&&L=$L:${d%/*};done
export LD_LIBRARY_PATH=$L UNLEARNBENCH_ORT_LIB=$PWD/ort-cuda/libonnxruntime.so
U=ort-cuda/unlearnbench;TIMEFORMAT="TIME %R";D="--dataset npz --data"
nvidia-smi -L;ldd ort-cuda/*cuda.so|grep found;ls /sys/class/drm;$U version
$P -c "
import numpy as n;r=n.random.default_rng(1)
def m(k,f):
 j=k+999;y=r.integers(0,10,j);x=(r.integers(0,128,(j,3,32,32))+12*y[:,None,None,None]).astype('u1')
 n.savez(f,x=x[:k],y=y[:k],x_test=x[k:],y_test=y[k:])
m($N,'d.npz');m(320,'s.npz')"
for g in $G cpu;do time $U train $D d.npz --model resnet18 --epochs ${DC_E:-4} --seed 1 --device $g --out m-$g.onnx;done
$U split $D s.npz --forget-random 32 --validation 32 --out ss
for g in $G cpu;do for e in estimator=mc samples=1;do
time $U unlearn $D s.npz --split ss --method fisher --param $e --model m-cpu.onnx --device $g --cache c-$g --out f-$g-$e.onnx
done;done
$P -c "
import numpy as n,glob
for f in glob.glob('c-$G/fisher/*.npz'):
 a=n.load(f);b=n.load(f.replace('c-$G','c-cpu'));print('fisher L2',max(n.linalg.norm(a[k]-b[k])/n.linalg.norm(b[k]) for k in a.files if a[k].dtype.kind=='f'))"
echo "{name: dc, data: {dataset: npz, path: s.npz}, split: {forget: {random: '32'}}, model: resnet18, recipe: {epochs: 4, batch_size: 32}, n: 3,
methods: [{method: finetune, params: {epochs: 1}}, {method: fisher, params: {estimator: mc}}], attacks: {folds: 3}, runtime: {device: $G}}">r.yaml
time $U run -c r.yaml
