"""Runs a model `dg export` wrote (a sequential or residual graph of Conv,
Relu, MaxPool, AveragePool, GlobalAveragePool, Flatten, Gemm, Add, Softmax)
as a differentiable PyTorch function, so research scripts can take
gradients through the library's own Students and guard members."""
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


class OnnxModule(torch.nn.Module):
    def __init__(self, path):
        super().__init__()
        m = onnx.load(path)
        self.graph = m.graph
        self.weights = {i.name: torch.tensor(numpy_helper.to_array(i).copy())
                        for i in m.graph.initializer}
        self.input = [i.name for i in m.graph.input if i.name not in self.weights][0]
        self.output = m.graph.output[0].name

    def forward(self, x, until=None):
        """The output, or with until=K the output of the K-th node."""
        v = dict(self.weights)
        v[self.input] = x
        for k, n in enumerate(self.graph.node):
            a, i = _attrs(n), [v.get(name) for name in n.input]
            op = n.op_type
            if op == 'Conv':
                p = a.get('pads', [0, 0, 0, 0])
                y = F.conv2d(i[0], i[1], i[2] if len(i) > 2 else None,
                             stride=a.get('strides', [1, 1]), padding=(p[0], p[1]),
                             groups=a.get('group', 1))
            elif op == 'Relu':
                y = F.relu(i[0])
            elif op in ('MaxPool', 'AveragePool'):
                p = a.get('pads', [0, 0, 0, 0])
                f = F.max_pool2d if op == 'MaxPool' else F.avg_pool2d
                kw = {} if op == 'MaxPool' else {'count_include_pad': False}
                y = f(i[0], a['kernel_shape'], a.get('strides', a['kernel_shape']),
                      (p[0], p[1]), **kw)
            elif op == 'GlobalAveragePool':
                y = i[0].mean((2, 3), keepdim=True)
            elif op == 'Flatten':
                y = i[0].flatten(a.get('axis', 1))
            elif op == 'Gemm':
                w = i[1].t() if a.get('transB', 0) else i[1]
                y = i[0] @ w + (i[2] if len(i) > 2 else 0)
            elif op == 'Add':
                y = i[0] + i[1]
            elif op == 'Softmax':
                y = F.softmax(i[0], a.get('axis', 1))
            else:
                raise ValueError('operator %s not handled' % op)
            v[n.output[0]] = y
            if until == k:
                return y
        return v[self.output]
