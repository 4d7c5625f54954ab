/** The app shell: header, routes (runs list, run, workflow), and the token prompt after a 401. */
import { useHashRoute } from "./hooks";
import { RunPage } from "./pages/RunPage";
import { RunsPage } from "./pages/RunsPage";
import { WorkflowPage } from "./pages/WorkflowPage";

export function App() {
  const { path, params } = useHashRoute();
  const [resource, id] = path;
  let page;
  if (resource === "runs" && id) {
    page = <RunPage key={id} runId={id} />;
  } else if (resource === "workflows" && id) {
    page = <WorkflowPage key={id} name={id} />;
  } else {
    page = <RunsPage initialStatus={params.get("status") ?? ""} initialWorkflow={params.get("workflow") ?? ""} />;
  }
  return (
    <>
      <header className="top">
        <a className="brand" href="#/">
          htdag
        </a>
        <nav>
          <a href="#/">Runs</a>
        </nav>
      </header>
      <main>{page}</main>
    </>
  );
}
