namespace Dtx.Harness.Infrastructure;

/// <summary>
/// Kills a child process group together with the processes that left it.
/// </summary>
/// <remarks>
/// A process group is not always the whole of what a child runs: PostgreSQL's postmaster puts every backend and
/// auxiliary process into a session of its own (so that a terminal's signals cannot reach them), and the Erlang VM
/// does the same with erl_child_setup. After a SIGKILL of the postmaster its idle backends notice and exit, but one
/// busy with a long query runs on. So a kill also takes the direct children of the group's members that sit in
/// another group ("escapees"), found through /proc while the group is frozen with SIGSTOP so that it cannot fork
/// new ones meanwhile. <see cref="ReaperWatchdog"/> does the same in bash.
/// </remarks>
internal static class ProcessTree
{
    public static void KillGroup(int pgid)
    {
        if (!Posix.SignalGroup(pgid, Signals.SIGSTOP)) return;
        foreach (int escapee in EscapeesOf(pgid)) Posix.SignalProcess(escapee, Signals.SIGKILL);
        Posix.SignalGroup(pgid, Signals.SIGKILL);
    }

    private static List<int> EscapeesOf(int pgid)
    {
        var processes = ReadProcessTable();
        return processes
            .Where(p => p.Value.Group != pgid
                && processes.TryGetValue(p.Value.Parent, out var parent) && parent.Group == pgid)
            .Select(p => p.Key)
            .ToList();
    }

    private static Dictionary<int, (int Parent, int Group)> ReadProcessTable()
    {
        var table = new Dictionary<int, (int, int)>();
        foreach (string directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out int pid)) continue;
            string stat;
            try
            {
                stat = File.ReadAllText(Path.Combine(directory, "stat"));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue; // exited while we looked
            }
            // "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses, so parse after the last ')'.
            string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            if (fields.Length > 2 && int.TryParse(fields[1], out int parent) && int.TryParse(fields[2], out int group))
                table[pid] = (parent, group);
        }
        return table;
    }
}
