"""Builds ONNX Runtime's side of bench/ort_validate.sh: one graph that
computes, from one input, the Student's logits and every distinct member's
softmax, as `dg export` writes them.  Identical members (a robust guard's
are shared by the classes) appear once, and identical weights (a pruned
member's copy of the Student's layers) are stored once, so ONNX Runtime's
common-subexpression pass computes a shared prefix once: the strongest
arrangement we know for it.  Also writes the plan its validator follows:
per class, the outputs of its M members and their threshold.

Usage: merge_guard.py STUDENT.onnx EXPORT_DIR GUARD_INFO.json OUT.onnx OUT_PLAN.json
(EXPORT_DIR from `dg export --all`, GUARD_INFO.json from `dg guard info --json`)
"""
import hashlib
import json
import os
import sys

import onnx
from onnx import helper, numpy_helper


def content_key(model):
    """The same for two exports of the same member."""
    h = hashlib.sha256()
    for init in model.graph.initializer:
        h.update(init.name.encode())
        h.update(numpy_helper.to_array(init).tobytes())
    for node in model.graph.node:
        h.update(node.SerializeToString())
    return h.hexdigest()


class Merger:
    def __init__(self, input_value):
        self.input = input_value
        self.nodes, self.inits, self.outputs = [], [], []
        self.by_bytes = {}  # weight content -> the one initializer name

    def add(self, model, prefix, output_name, softmax):
        """Adds model's graph, its input joined to the shared one."""
        g = model.graph
        (source,) = [i.name for i in g.input
                     if i.name not in {t.name for t in g.initializer}]
        rename = {source: self.input.name}
        for init in g.initializer:
            arr = numpy_helper.to_array(init)
            key = (arr.dtype.str, arr.shape, hashlib.sha256(arr.tobytes()).hexdigest())
            if key not in self.by_bytes:
                self.by_bytes[key] = prefix + init.name
                self.inits.append(numpy_helper.from_array(arr, prefix + init.name))
            rename[init.name] = self.by_bytes[key]
        for node in g.node:
            n = onnx.NodeProto()
            n.CopyFrom(node)
            n.name = prefix + node.name
            for lst in (n.input, n.output):
                for i, name in enumerate(lst):
                    lst[i] = rename.setdefault(name, prefix + name)
            self.nodes.append(n)
        last = rename[g.output[0].name]
        if softmax:
            self.nodes.append(helper.make_node("Softmax", [last], [output_name],
                                               axis=1, name=prefix + "softmax"))
        else:
            self.nodes.append(helper.make_node("Identity", [last], [output_name],
                                               name=prefix + "out"))
        out = onnx.ValueInfoProto()
        out.CopyFrom(g.output[0])  # logits and softmax share a shape
        out.name = output_name
        self.outputs.append(out)

    def model(self, opset):
        graph = helper.make_graph(self.nodes, "student_and_guard", [self.input],
                                  self.outputs, self.inits)
        m = helper.make_model(graph, opset_imports=opset)
        onnx.checker.check_model(m)
        return m


def main(student_path, export_dir, info_path, out_path, plan_path):
    student = onnx.load(student_path)
    info = json.load(open(info_path))
    inputs = [i for i in student.graph.input
              if i.name not in {t.name for t in student.graph.initializer}]
    merger = Merger(inputs[0])
    merger.add(student, "student/", "student_logits", softmax=False)
    member_output = {}  # content key -> output name
    plan = {"rule": info["rule"], "members": info["members"], "classes": []}
    for cls in info["classes"]:
        c = cls["class"]
        outs = []
        for rank in range(info["members"]):
            m = onnx.load(os.path.join(export_dir, "class%d-rank%d.onnx" % (c, rank)))
            key = content_key(m)
            if key not in member_output:
                name = "member%d_prob" % len(member_output)
                merger.add(m, "member%d/" % len(member_output), name, softmax=True)
                member_output[key] = name
            outs.append(member_output[key])
        cal = cls["calibration"][info["members"] - 1]
        plan["classes"].append({"members": outs, "theta": cal["theta"],
                                "tau": cal["tau"]})
    plan["outputs"] = ["student_logits"] + sorted(set(member_output.values()))
    onnx.save(merger.model(student.opset_import), out_path)
    json.dump(plan, open(plan_path, "w"), indent=1)
    print("merged the Student and %d distinct members (%d weights stored once)"
          % (len(member_output), len(merger.inits)), file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    main(*sys.argv[1:])
