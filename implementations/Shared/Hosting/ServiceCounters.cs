using System.IO.MemoryMappedFiles;
using System.Runtime.CompilerServices;

namespace Dtx.Shared.Hosting;

/// <summary>
/// What one service process did, counted as it goes, for the cost per order of <c>bench</c> and of a scenario run: HTTP
/// requests it served (the protocol's, not the harness's control requests), messages RabbitMQ confirmed to it or took
/// from it without a confirm, and deliveries it handled and acked. Process-wide (each service is its own process), a
/// few interlocked increments on the hot path, read over <c>GET /metrics</c>.
/// <para>
/// With <c>--counters FILE</c> the counts live in that file, mapped shared into memory: a page written through a
/// shared mapping belongs to the kernel's page cache, so the counts survive the SIGKILL a crash scenario deals the
/// process, to the last increment. Read from the outside with <see cref="ReadFile"/>. Without it they live in memory.
/// </para>
/// </summary>
public static unsafe class ServiceCounters
{
    private const int Cells = 3; // requests served, messages published, messages consumed: the file's layout, 8 bytes each
    public const int FileBytes = Cells * sizeof(long);

    private static long* _cells = (long*)System.Runtime.InteropServices.NativeMemory.AllocZeroed(FileBytes);

    // Kept for the process's lifetime: the mapping must outlive every increment.
    private static MemoryMappedFile? _file;
    private static MemoryMappedViewAccessor? _view;

    public static void RequestServed() => Interlocked.Increment(ref Unsafe.AsRef<long>(_cells));

    public static void MessagePublished() => Interlocked.Increment(ref Unsafe.AsRef<long>(_cells + 1));

    public static void MessageConsumed() => Interlocked.Increment(ref Unsafe.AsRef<long>(_cells + 2));

    public static Snapshot Read() =>
        new(Interlocked.Read(ref Unsafe.AsRef<long>(_cells)), Interlocked.Read(ref Unsafe.AsRef<long>(_cells + 1)), Interlocked.Read(ref Unsafe.AsRef<long>(_cells + 2)));

    /// <summary>
    /// Counts from now on in <paramref name="path"/>, a new file (an existing one would be another process's counts).
    /// Called once at start, before the service does any work.
    /// </summary>
    public static void CountInFile(string path)
    {
        if (_file is not null) throw new InvalidOperationException("the counters already live in a file");
        var file = MemoryMappedFile.CreateFromFile(path, FileMode.CreateNew, null, FileBytes, MemoryMappedFileAccess.ReadWrite);
        var view = file.CreateViewAccessor(0, FileBytes, MemoryMappedFileAccess.ReadWrite);
        byte* start = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref start);
        _file = file;
        _view = view;
        _cells = (long*)(start + view.PointerOffset);
    }

    /// <summary>The counts a process left in its file; zeros for a file cut short (a process killed while creating it).</summary>
    public static Snapshot ReadFile(string path)
    {
        var bytes = File.ReadAllBytes(path);
        long Cell(int i) => bytes.Length >= (i + 1) * sizeof(long) ? BitConverter.ToInt64(bytes, i * sizeof(long)) : 0;
        return new Snapshot(Cell(0), Cell(1), Cell(2));
    }

    /// <summary>The counts since the process started; the JSON of <c>GET /metrics</c>.</summary>
    public sealed record Snapshot(long RequestsServed, long MessagesPublished, long MessagesConsumed)
    {
        public static readonly Snapshot Zero = new(0, 0, 0);

        public static Snapshot operator +(Snapshot a, Snapshot b) =>
            new(a.RequestsServed + b.RequestsServed, a.MessagesPublished + b.MessagesPublished, a.MessagesConsumed + b.MessagesConsumed);

        public static Snapshot operator -(Snapshot after, Snapshot before) =>
            new(after.RequestsServed - before.RequestsServed, after.MessagesPublished - before.MessagesPublished, after.MessagesConsumed - before.MessagesConsumed);
    }
}
