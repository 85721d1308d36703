// host.cpp - the C host of examples/c_host with diffguard.hpp.
//
// usage: host STUDENT GUARD IMAGE...
//
// Classifies each image with the host's "own inference" (the Student in a
// dg::Session, standing in for the host's runtime), validates the label
// with the guard, and prints
//
//     IMAGE: CLASS (LABEL) ACCEPTED|REJECTED votes V/M score S; RULE
//
// with RULE as the C host prints it: the rule and its threshold.
//
// Build: c++ -std=c++11 host.cpp $(pkg-config --cflags --libs libdiffguard)
#include <algorithm>
#include <cstdio>
#include <vector>

#include <diffguard.hpp>

int main(int argc, char **argv)
{
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s STUDENT GUARD IMAGE...\n", argv[0]);
        return 2;
    }
    try {
        dg::Model student = dg::Model::load(argv[1]);
        dg::Guard guard = dg::Guard::load(argv[2], student);
        dg::Session session(student, 1);
        dg_validator_opts vo = dg::validator_options();
        vo.max_batch = 1;
        dg::Validator validator(guard, vo);

        for (int i = 3; i < argc; i++) {
            std::vector<float> input = student.load_image(argv[i]);
            // The host's own inference: the largest output.
            session.run(input, 1);
            dg::Tensor out = session.output();
            std::int32_t label = static_cast<std::int32_t>(
                std::max_element(out.data, out.data + out.size()) - out.data);
            // The check beside it.
            dg_verdict v = validator.validate_labeled(input, {label})[0];
            std::printf("%s: %s (%d) %s votes %u/%u score %.4f; ", argv[i],
                        student.class_name(static_cast<std::uint32_t>(label))
                            .c_str(),
                        label, v.accepted ? "ACCEPTED" : "REJECTED", v.votes,
                        v.members, static_cast<double>(v.score));
            if (v.rule == DG_RULE_VOTES)
                std::printf("rule votes: accept with %.0f or more votes\n",
                            static_cast<double>(v.threshold));
            else
                std::printf("rule score: accept at %.4f or more\n",
                            static_cast<double>(v.threshold));
        }
    } catch (const dg::Error &e) {
        std::fprintf(stderr, "host: %s\n", e.what());
        return 1;
    }
    return 0;
}
