/** A status as a coloured badge. */
export function StatusBadge({ status }: { status: string }) {
  return (
    <span className={`badge status-${status}`} data-status={status}>
      {status.replaceAll("_", " ")}
    </span>
  );
}
