using System.Globalization;

namespace Dtx.Harness.Infrastructure;

/// <summary>
/// CPU time and memory of a process, or of a process and everything below it, read from <c>/proc</c> (Linux only):
/// a PostgreSQL server is its postmaster and one backend per connection, all children of the postmaster.
/// </summary>
public static class ProcessMeter
{
    // USER_HZ: the unit of the times in /proc/PID/stat; 100 on every Linux the harness runs on.
    private const double TicksPerSecond = 100;

    /// <summary>A reading of one process tree.</summary>
    /// <param name="CpuSeconds">User and system time of the process (with <c>tree</c>: of the tree's live processes, plus what its root's reaped children used).</param>
    /// <param name="PeakRssMiB">The largest resident set the root process has had (VmHWM).</param>
    /// <param name="RssMiB">The memory of the process (or tree) now, as proportional set size: memory the processes of a
    /// tree share (PostgreSQL's shared buffers) counted once, not once per backend.</param>
    public sealed record Reading(double CpuSeconds, double PeakRssMiB, double RssMiB);

    /// <summary>
    /// Readings of several processes from one listing of <c>/proc</c> (a sampler reads every process of a run each
    /// second). A process gone or unreadable has no entry. <c>Tree</c> for a server whose work is done by children; not
    /// for a process whose children are others' (the harness's children are the services and servers, and a child that
    /// exits takes its time from the live sum to its own parent's, which would read as time going back).
    /// </summary>
    public static IReadOnlyDictionary<int, Reading> ReadMany(IReadOnlyCollection<(int Pid, bool Tree)> roots)
    {
        var readings = new Dictionary<int, Reading>();
        try
        {
            var stats = Directory.GetDirectories("/proc")
                .Select(d => int.TryParse(Path.GetFileName(d), out var pid) ? Stat(pid) : null)
                .OfType<ProcStat>()
                .ToDictionary(s => s.Pid);
            var children = roots.Any(r => r.Tree) ? stats.Values.ToLookup(s => s.ParentPid) : null;
            foreach (var (rootPid, tree) in roots)
            {
                if (!stats.TryGetValue(rootPid, out var root)) continue;
                if (!tree)
                {
                    readings[rootPid] = new Reading((root.UserTicks + root.SystemTicks) / TicksPerSecond, StatusKiB(rootPid, "VmHWM") / 1024.0, PssKiB(rootPid) / 1024.0);
                    continue;
                }
                var members = new List<ProcStat>();
                var pending = new Stack<ProcStat>([root]);
                while (pending.TryPop(out var next))
                {
                    members.Add(next);
                    foreach (var child in children![next.Pid]) pending.Push(child);
                }
                var cpuTicks = members.Sum(s => s.UserTicks + s.SystemTicks) + root.ReapedChildrenTicks;
                readings[rootPid] = new Reading(cpuTicks / TicksPerSecond, StatusKiB(rootPid, "VmHWM") / 1024.0, members.Sum(s => PssKiB(s.Pid)) / 1024.0);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // /proc unreadable: no readings at all rather than a failed run.
        }
        return readings;
    }

    private sealed record ProcStat(int Pid, int ParentPid, long UserTicks, long SystemTicks, long ReapedChildrenTicks);

    private static ProcStat? Stat(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid}/stat");
            // The command name (field 2) may hold spaces and parentheses: the fields after it start past the last ')'.
            var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
            long Field(int number) => long.Parse(fields[number - 3], CultureInfo.InvariantCulture);
            return new ProcStat(pid, (int)Field(4), Field(14), Field(15), Field(16) + Field(17));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException or ArgumentOutOfRangeException)
        {
            return null; // gone between the listing and the read, or an empty stat file
        }
    }

    private static long StatusKiB(int pid, string key) => FieldKiB($"/proc/{pid}/status", key);

    private static long PssKiB(int pid) => FieldKiB($"/proc/{pid}/smaps_rollup", "Pss");

    private static long FieldKiB(string file, string key)
    {
        try
        {
            foreach (var line in File.ReadLines(file))
                if (line.StartsWith(key + ":", StringComparison.Ordinal))
                    return long.Parse(line[(key.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
        }
        return 0;
    }
}
