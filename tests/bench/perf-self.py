#!/usr/bin/env python3
# perf-self.py PERF_DATA PLUGIN_DIR [TOP [BASE_DATA]]: the self time of a
# perf recording of the proxy's core, per DSO and per symbol, the plugins'
# symbols included. With BASE_DATA (a recording of another proxy doing the
# same work), the symbols whose share of the samples grew most from
# BASE_DATA to PERF_DATA.
#
# Why: the core dlopens a private copy of each plugin and unlinks it
# (core/loader.c, open_private_copy), so perf only sees
# "/tmp/anthropic-proxy-plugin.XXXXXX (deleted)" and cannot name a symbol.
# Each copy is recognised here by its executable mapping (file offset and
# size) among the built plugins (PLUGIN_DIR/*/.libs/*.so), and its addresses
# are named from that file's symbol table (nm). Plugins whose mappings look
# alike (the small detectors) are named together.
import bisect, collections, re, subprocess, sys

data, plugdir = sys.argv[1], sys.argv[2]
top = int(sys.argv[3]) if len(sys.argv) > 3 else 25
base = sys.argv[4] if len(sys.argv) > 4 else None

def sh(*a):
    return subprocess.run(a, capture_output=True, text=True).stdout

# the built plugins: executable LOAD segment -> file
cands = collections.defaultdict(list)
for so in sh('find', plugdir, '-path', '*/.libs/*.so', '-type', 'f').split():
    for l in sh('readelf', '-lW', so).splitlines():
        f = l.split()
        if f and f[0] == 'LOAD' and 'E' in f[6:-1]:
            off, filesz = int(f[1], 16), int(f[4], 16)
            pg = off & ~0xfff
            size = ((off + filesz + 0xfff) & ~0xfff) - pg
            cands[(pg, size)].append(so)

def profile(data):
    # the copies perf saw
    name_of = {}
    syms = {}
    for l in sh('perf', 'script', '-i', data, '--show-mmap-events', '-F', 'ip').splitlines():
        m = re.search(r'\[(0x[0-9a-f]+)\((0x[0-9a-f]+)\) @ (0x[0-9a-f]+) [^\]]*\]: r-xp (\S*anthropic-proxy-plugin\.\S+)', l)
        if not m:
            continue
        start, size, pg, path = (int(m.group(1), 16), int(m.group(2), 16), int(m.group(3), 16), m.group(4))
        name_of[path + '#start'] = (start, pg)
        sos = cands.get((pg, size), [])
        name_of[path] = '|'.join(sorted(s.split('/')[-1] for s in sos)) or path
        if len(sos) == 1 and sos[0] not in syms:
            t = []
            for s in sh('nm', '-l', '-C', '--defined-only', sos[0]).splitlines():
                p = s.split(None, 2)
                if len(p) == 3 and p[1] in 'tTwW':
                    name, _, where = p[2].partition('\t')
                    src = where.rsplit('/', 1)[-1].split(':')[0] if where else '?'
                    t.append((int(p[0], 16), name + '\t' + src))
            t.sort()
            syms[sos[0]] = t
        if len(sos) == 1:
            name_of[path + '#so'] = sos[0]

    def resolve(dso, ip, sym):
        path = dso.replace(' (deleted)', '')
        if path in name_of:
            so = name_of.get(path + '#so')
            if so and syms.get(so):
                start, pg = name_of[path + '#start']
                if ip >= start:  # perf script gives the address in the process
                    ip = ip - start + pg
                t = syms[so]
                i = bisect.bisect_right(t, (ip, '\uffff')) - 1
                sym = t[i][1] if i >= 0 else sym
            return name_of[path], sym
        return re.sub(r'^perf-\d+\.map$', 'JIT (perf-PID.map)', dso.split('/')[-1]), sym

    by_src = collections.Counter()
    by_sym = collections.Counter()
    by_dso = collections.Counter()
    n = 0
    out = sh('perf', 'script', '-i', data, '-G', '-F', 'ip,sym,dso')
    for l in out.splitlines():
        m = re.match(r'\s*([0-9a-f]+)\s+(.*?)\s+\((.*)\)\s*$', l)
        if not m:
            continue
        ip, sym, dso = int(m.group(1), 16), m.group(2), m.group(3)
        d, s = resolve(dso, ip, sym)
        s, _, src = s.partition('\t')
        if src:
            by_src[d + ':' + src] += 1
        by_sym[(d, s)] += 1
        by_dso[d] += 1
        n += 1
    return by_src, by_sym, by_dso, n

by_src, by_sym, by_dso, n = profile(data)
if not n:
    sys.exit('no samples')
print('  by DSO: ' + ', '.join('%s %.1f%%' % (d, 100 * c / n) for d, c in by_dso.most_common(8)))
print('  plugins by source file: ' + ', '.join('%s %.1f%%' % (f, 100 * c / n)
                                              for f, c in by_src.most_common(8)))
for (d, s), c in by_sym.most_common(top):
    print('  %6.2f%%  %-28s %s' % (100 * c / n, d[:28], s))
if base:
    _, bsym, _, bn = profile(base)
    # shares, not sample counts: two processes' sampling on a shared machine
    # differ by more than the effect
    print('  share grown most from %s (%d samples) to this one (%d samples), in points:'
          % (base.split('/')[-1], bn, n))
    diff = {k: by_sym.get(k, 0) / n - bsym.get(k, 0) / bn for k in set(by_sym) | set(bsym)}
    for (d, s), c in sorted(diff.items(), key=lambda kv: -kv[1])[:top]:
        print('  %+6.2f  %-28s %s' % (100 * c, d[:28], s))
