/*
 * Profiles as data: a store record (bl_profiles.c) overlaid on the config profile of the same
 * name, or on its template, resolved once per (name, store generation, config) into the
 * caller's scratch. The file's [profile] sections stay the template; the store wins for the
 * fields a record sets (a parent's change from the dashboard beats the file), and `kidguard
 * -n -v` keeps printing the file alone.
 */
#include "rs.h"

#include <stdlib.h>
#include <string.h>

#include "bl.h"

int rs_mode_parse(const char *s, int *mode)
{
	if (strcmp(s, "filter") == 0)
		return *mode = RS_MODE_FILTER, 0;
	if (strcmp(s, "allowlist") == 0)
		return *mode = RS_MODE_ALLOWLIST, 0;
	return -1;
}

const char *rs_mode_name(int mode)
{
	return mode == RS_MODE_ALLOWLIST ? "allowlist" : "filter";
}

int rs_profile_index(const struct rs_config *cfg, const struct rs_profile *p)
{
	const struct rs_profile *named;

	if (p >= cfg->profiles && p < cfg->profiles + cfg->n_profiles)
		return (int)(p - cfg->profiles);
	if (p->from_store && p->base_index >= 0 && p->base_index < cfg->n_profiles)
		return p->base_index;
	named = rs_profile_named(cfg, p->name);
	return named ? (int)(named - cfg->profiles) : cfg->default_profile;
}

struct rs_profile_scratch *rs_profile_scratch_new(void)
{
	return calloc(1, sizeof(struct rs_profile_scratch));
}

int rs_profile_apply_rec(struct rs_profile *p, const struct bl_profile_rec *rec)
{
	if ((rec->set & BL_PF_PRESET) && rec->preset[0] && rs_preset_apply(rec->preset, p) < 0)
		return -1;
	if (rec->set & BL_PF_BLOCK) {
		p->block_mask = (p->block_mask | rec->block_add) & ~rec->block_del;
		p->block_removed |= rec->block_del;
	}
	if (rec->set & BL_PF_MODE)
		p->mode = rec->mode == BL_MODE_ALLOWLIST ? RS_MODE_ALLOWLIST : RS_MODE_FILTER;
	if (rec->set & BL_PF_SCHEDULES) {
		p->n_schedules = 0;
		for (int i = 0; i < rec->n_sched && i < RS_MAX_SCHEDULES; i++) {
			struct rs_schedule *s = &p->schedules[p->n_schedules++];
			s->days = rec->sched[i].days;
			s->start = rec->sched[i].start;
			s->end = rec->sched[i].end;
			s->bedtime = rec->sched[i].bedtime;
			s->extra_block = rec->sched[i].extra_block;
		}
	}
	if (rec->set & BL_PF_BEDTIME_ALLOW) {
		p->n_allow = 0;
		for (int i = 0; i < rec->n_allow; i++)
			if (rs_bedtime_allow_add(p, bl_profile_rec_allow(rec, i)) < 0)
				return -1;
	}
	p->has_rules = rec->n_rules > 0;
	p->from_store = true;
	return 0;
}

const struct rs_profile *rs_profile_rec_base(const struct rs_config *cfg, const char *name,
                                             const struct bl_profile_rec *rec)
{
	const struct rs_profile *b = NULL;

	if ((rec->set & BL_PF_TEMPLATE) && rec->tmpl[0])
		b = rs_profile_named(cfg, rec->tmpl);
	if (!b)
		b = rs_profile_named(cfg, name);
	return b ? b : &cfg->profiles[cfg->default_profile];
}

const char *rs_profile_rec_windows(struct bl_profile_rec *rec, const struct rs_profile *base,
                                   bool set_bedtime, const struct bl_profile_sched *bedtime,
                                   bool set_windows, const struct bl_profile_sched *windows,
                                   int n_windows)
{
	int m = 0;

	if (!(rec->set & BL_PF_SCHEDULES)) { /* the first change starts from the file's */
		rec->n_sched = 0;
		for (int i = 0; i < base->n_schedules && i < BL_PROFILE_SCHED_MAX; i++) {
			const struct rs_schedule *s = &base->schedules[i];
			rec->sched[rec->n_sched++] = (struct bl_profile_sched){
			    s->days, s->bedtime, s->start, s->end, s->extra_block};
		}
	}
	for (int i = 0; i < rec->n_sched; i++)
		if (rec->sched[i].bedtime ? !set_bedtime : !set_windows)
			rec->sched[m++] = rec->sched[i];
	rec->n_sched = m;
	for (int i = 0; set_windows && i < n_windows; i++) {
		if (rec->n_sched >= BL_PROFILE_SCHED_MAX)
			return "schedules: the profile has no room for another window";
		rec->sched[rec->n_sched++] = windows[i];
	}
	if (set_bedtime && bedtime) {
		if (rec->n_sched >= BL_PROFILE_SCHED_MAX)
			return "bedtime: the profile has no room for another window";
		rec->sched[rec->n_sched++] = *bedtime;
	}
	rec->set |= BL_PF_SCHEDULES;
	return NULL;
}

/* Decode the record of `name` into slot `s`. Sets s->result. */
static void resolve_slot(const struct rs_decide_ctx *cx, struct rs_profile_scratch *sc, int i,
                         const char *name)
{
	const struct rs_config *cfg = cx->cfg;
	const struct rs_profile *base = rs_profile_named(cfg, name);
	struct rs_profile *p = &sc->slot[i].prof;
	struct bl_meta m;
	int rc = bl_profile_get(cx->rd, name, &sc->rec);

	sc->slot[i].result = base;
	if (rc < 0)
		return; /* no record (or a store error, which the list lookup then meets) */
	if ((sc->rec.set & BL_PF_TEMPLATE) && sc->rec.tmpl[0] &&
	    rs_profile_named(cfg, sc->rec.tmpl))
		base = rs_profile_named(cfg, sc->rec.tmpl);
	else if (!base)
		base = &cfg->profiles[cfg->default_profile];
	*p = *base;
	p->base_index = (int8_t)(base - cfg->profiles);
	snprintf(p->name, sizeof(p->name), "%s", name);
	if (rs_profile_apply_rec(p, &sc->rec) < 0)
		return; /* a record the writer would have refused: keep the file's profile */
	/* A child preset set from the store blocks what the feed adds, as the file's do
	 * (rs_config_bind_feed); read once per record and generation. */
	if ((sc->rec.set & BL_PF_PRESET) && p->feed_default && cx->db &&
	    bl_db_meta(cx->db, &m) == 0)
		p->block_mask |= m.feed_defined & ~m.child_allow & ~p->block_removed;
	sc->slot[i].result = p;
}

/* Is the "profiles" table empty at generation `gen`? Asked once per generation. */
static bool store_empty(const struct rs_decide_ctx *cx, struct rs_profile_scratch *sc, uint64_t gen)
{
	uint64_t n = 1;

	if (sc->empty_gen != gen) {
		if (bl_profiles_count(cx->db, &n) < 0)
			n = 1; /* unknown: ask per name */
		sc->empty = n == 0;
		sc->empty_gen = gen;
	}
	return sc->empty;
}

const struct rs_profile *rs_profile_resolve(const struct rs_decide_ctx *cx, const char *name)
{
	struct rs_profile_scratch *sc = cx->scratch;
	uint64_t gen;
	int i;

	if (!sc || !cx->rd || !cx->db || !name || !bl_profile_name_valid(name))
		return rs_profile_named(cx->cfg, name);
	gen = bl_db_generation(cx->db);
	if (store_empty(cx, sc, gen))
		return rs_profile_named(cx->cfg, name);
	for (i = 0; i < RS_SCRATCH_SLOTS; i++) {
		if (sc->slot[i].gen == gen && sc->slot[i].cfg == cx->cfg &&
		    sc->slot[i].cfg_serial == cx->cfg->serial &&
		    strcmp(sc->slot[i].name, name) == 0)
			return sc->slot[i].result;
	}
	i = sc->next;
	sc->next = (sc->next + 1) % RS_SCRATCH_SLOTS;
	snprintf(sc->slot[i].name, sizeof(sc->slot[i].name), "%s", name);
	sc->slot[i].gen = gen;
	sc->slot[i].cfg = cx->cfg;
	sc->slot[i].cfg_serial = cx->cfg->serial;
	resolve_slot(cx, sc, i, name);
	return sc->slot[i].result;
}
