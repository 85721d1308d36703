/* describe.c - what an adversarial set says of its making: the data, the
 * models' files, the attack and its budget, any adaptive models
 * (dg_advset_describe), as `dg attack` and the scenario write it and
 * `dg eval` shows it. */
#include "eval/eval.h"

#include <stdio.h>

static const char *method_name(int32_t method)
{
    switch (method) {
    case DG_ATTACK_MIMIC_DSSIM: return "dssim";
    case DG_ATTACK_MIMIC_LINF: return "linf";
    case DG_ATTACK_FGSM: return "fgsm";
    case DG_ATTACK_PGD: return "pgd";
    default: return "?";
    }
}

static const char *preset_name(int32_t preset)
{
    return preset == DG_ATTACK_PRESET_STRONG  ? "strong"
           : preset == DG_ATTACK_PRESET_PAPER ? "paper"
                                              : "?";
}

/* "; adaptive: ..." for an adaptive run, else "". */
static void describe_adaptive(const dg_advset_origin *o,
                              const dg_attack_opts *a, char *buf, size_t cap)
{
    if (!o->guard && !o->models) {
        buf[0] = '\0';
        return;
    }
    char members[32] = "M";
    if (o->guard_members)
        snprintf(members, sizeof members, "%u", o->guard_members);
    snprintf(buf, cap,
             "; adaptive: guard %s (%s members, student %s), models %s, "
             "weight %g, draw %u, feature term %s",
             o->guard ? o->guard : "none", members,
             o->guard_student ? o->guard_student : o->student,
             o->models ? o->models : "none", (double)a->adaptive_weight,
             a->adaptive_draw, a->feature_weight > 0 ? "on" : "off");
}

void dg_describe_attack(const dg_advset_origin *o, const dg_attack_opts *a,
                        char *text, size_t capacity)
{
    char adaptive[1024], budget[64];
    describe_adaptive(o, a, adaptive, sizeof adaptive);
    if (a->method == DG_ATTACK_MIMIC_DSSIM)
        snprintf(budget, sizeof budget, "DSSIM budget %g", (double)a->budget);
    else
        snprintf(budget, sizeof budget, "L-inf epsilon %g",
                 (double)a->epsilon);
    snprintf(text, capacity,
             "%s%sdata %s; classes %s; teacher %s; student %s; %s %s, %s, "
             "preset %s, layer %d%s",
             o->label ? o->label : "", o->label ? "; " : "", o->data,
             o->classes ? o->classes : "all", o->teacher, o->student,
             method_name(a->method),
             a->targeted ? "targeted" : "untargeted", budget,
             preset_name(o->preset), a->feature_layer, adaptive);
    if (capacity > DG_ADVSET_DESCRIPTION_MAX)
        text[DG_ADVSET_DESCRIPTION_MAX] = '\0'; /* what a set keeps */
}
