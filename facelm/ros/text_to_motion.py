"""text_to_motion: prompts (/face/command, action /face/animate) -> motion tokens streamed on /face/tokens.

The language model runs on one worker thread, never in a callback. Requests
go through a one-slot mailbox: a new command or goal preempts the running one
(its goal is aborted with a message) and replaces any request still waiting,
so a flood of commands costs at most one generation at a time (latest wins).
Tokens go out as they are sampled: the first message carries one token (the
first frame is decodable at once), later ones ``chunk_tokens``.

/face/command is read as raw bytes and decoded strictly, so text that is not
UTF-8 is refused instead of being "repaired" with replacement characters.

Tokens are published from the worker thread, so the executor (see
``base.make_executor``) is not on the latency path.
"""
from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

from facelm.errors import FacelmError
from facelm.ros.base import FacelmNode, LatestWins, RateMeter, main_for
from facelm.text_encoder import check_text

LOG_CHARS = 60  # how much of a prompt a log line shows


@dataclass
class Request:
    text: str
    seconds: float
    received: float = field(default_factory=time.perf_counter)
    goal: object | None = None      # the action goal handle, None for a topic command
    done: object | None = None      # rclpy Future the action's execute callback awaits
    preempted: threading.Event = field(default_factory=threading.Event)


def parse_cdr_string(data: bytes) -> bytes:
    """The bytes of a serialized std_msgs/String (CDR: 4-byte header, uint32 length with NUL, bytes)."""
    if len(data) < 8:
        raise FacelmError("command message is truncated")
    order = "little" if data[1] & 1 else "big"
    n = int.from_bytes(data[4:8], order)
    if n == 0 or 8 + n > len(data):
        raise FacelmError("command message has a bad string length")
    return data[8:8 + n - 1]


def shorten(text: str) -> str:
    return text if len(text) <= LOG_CHARS else text[:LOG_CHARS] + f"... ({len(text)} characters)"


class TextToMotion(FacelmNode):
    def __init__(self, **kwargs):
        super().__init__("text_to_motion", **kwargs)
        from facelm.lm_runtime import DEFAULT_GUIDANCE, DEFAULT_GUIDANCE_DELAY, DEFAULT_TEMPERATURE, DEFAULT_TOP_P
        self.declare_model_params()
        self.param("command_topic", "/face/command", "prompts in (std_msgs/String); a new one preempts the running one")
        self.param("tokens_topic", "/face/tokens", "motion tokens out (facelm_msgs/MotionTokens)")
        self.param("action_name", "/face/animate", "the Animate action (goal text and seconds, feedback per chunk)")
        self.param("seconds", 4.0, "motion length for commands and for goals that ask for 0 s")
        self.param("seed", -1, "sampling seed (-1: a new random seed per command)")
        self.param("temperature", float(DEFAULT_TEMPERATURE), "sampling temperature, 0 is greedy")
        self.param("top_k", 0, "sample from the k likeliest tokens (0: off)")
        self.param("top_p", float(DEFAULT_TOP_P), "nucleus sampling mass")
        self.param("guidance", float(DEFAULT_GUIDANCE), "classifier-free guidance scale (1: off)")
        self.param("guidance_delay", DEFAULT_GUIDANCE_DELAY,
                   "motion tokens sampled before guidance starts (they set the starting pose)")
        self.param("chunk_tokens", 4, "tokens a /face/tokens message carries after the first (which carries one)")
        self.param("candidates", 1, "best of this many samples, the one the model reads back as the prompt "
                                    "likeliest; each is a whole generation before the first token (1: stream "
                                    "at once)")
        self._requests = LatestWins()
        self._running: Request | None = None
        self._worker = None
        self._stop = threading.Event()
        self._subs = []
        self._action = None

    # -- lifecycle ----------------------------------------------------------------------
    def configure(self) -> None:
        from facelm.lm_runtime import MAX_CANDIDATES, MotionLanguageModel
        if int(self.value("chunk_tokens")) < 1:
            raise FacelmError("chunk_tokens must be >= 1")
        if not 1 <= int(self.value("candidates")) <= MAX_CANDIDATES:
            raise FacelmError(f"candidates must lie in [1, {MAX_CANDIDATES}]")
        model = self.model_dir()
        self.lm = MotionLanguageModel(model)
        self.lm.warm_up()
        self.frames_per_token = int(self.lm.vocab.frames_per_token)
        self.fps = 25.0
        self.next_stream_id = random.randrange(1, 1 << 30)  # ids from an earlier run never look current
        self.first_token_ms = RateMeter()
        self.speed = RateMeter()
        self.commands = RateMeter()

    def activate(self) -> None:
        from rclpy.action import ActionServer, CancelResponse
        from std_msgs.msg import String
        from facelm_msgs.action import Animate
        from facelm_msgs.msg import MotionTokens
        self.pub = self.publisher(MotionTokens, self.value("tokens_topic"))
        self._subs = [self.create_subscription(String, self.value("command_topic"), self.on_command, 10, raw=True)]
        self._action = ActionServer(self, Animate, self.value("action_name"), execute_callback=self.execute,
                                    goal_callback=self.on_goal, cancel_callback=lambda _: CancelResponse.ACCEPT)
        self._stop.clear()
        self._requests.reopen()
        self._worker = threading.Thread(target=self._work, name="text_to_motion_lm", daemon=True)
        self._worker.start()

    def deactivate(self) -> None:
        self._stop.set()
        self._requests.close()
        running = self._running
        if running is not None:
            running.preempted.set()
        if self._worker is not None:
            self._worker.join(2.0)
        self._worker = None
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
        if self._action is not None:
            self._action.destroy()
            self._action = None

    # -- input --------------------------------------------------------------------------
    def on_command(self, data: bytes) -> None:
        self.commands.tick()
        self.counts["commands"] += 1
        try:
            text = check_text(parse_cdr_string(data), "command")
        except FacelmError as exc:
            self.reject("command", str(exc))
            return
        self._submit(Request(text, float(self.value("seconds"))))

    def on_goal(self, goal):
        from rclpy.action import GoalResponse
        self.counts["goals"] += 1
        try:
            check_text(goal.text, "goal text")
            if goal.seconds < 0 or goal.seconds != goal.seconds:
                raise FacelmError(f"goal seconds must be >= 0, got {goal.seconds}")
        except FacelmError as exc:
            self.reject("goal", str(exc))
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    async def execute(self, goal_handle):
        from rclpy.task import Future
        goal = goal_handle.request
        done = Future()
        self._submit(Request(goal.text, float(goal.seconds) or float(self.value("seconds")), goal=goal_handle,
                             done=done))
        return await done

    def _submit(self, request: Request) -> None:
        running = self._running
        if running is not None:
            running.preempted.set()
        self._requests.put(request, on_replaced=self._superseded)

    def _superseded(self, request: Request) -> None:
        """A request replaced before the worker took it up."""
        self.counts["superseded before start"] += 1
        self._finish(request, "preempted", "preempted by a newer command before it started", [], 0)

    # -- worker -------------------------------------------------------------------------
    def _work(self) -> None:
        while (request := self._requests.take()) is not None:
            self._running = request
            try:
                self._generate(request)
            except Exception as exc:  # noqa: BLE001 - a failed generation must not end the node
                self.counts["generation errors"] += 1
                self.get_logger().error(f"generation failed: {type(exc).__name__}: {exc}")
                self._finish(request, "failed", f"failed: {exc}", [], 0)
            finally:
                self._running = None

    def _generate(self, request: Request) -> None:
        from facelm_msgs.msg import MotionTokens
        from facelm_msgs.action import Animate
        stream_id = self.next_stream_id
        self.next_stream_id = (self.next_stream_id + 1) % (1 << 32)
        seed = int(self.value("seed"))
        seconds = min(max(request.seconds, 1.0 / self.fps), float(self.lm.vocab.max_seconds))
        frames = max(1, round(seconds * self.fps))
        try:
            stream = self.lm.generate_motion(
                request.text, seconds, seed=random.randrange(1 << 31) if seed < 0 else seed,
                temperature=float(self.value("temperature")), top_k=int(self.value("top_k")),
                top_p=float(self.value("top_p")), guidance=float(self.value("guidance")),
                guidance_delay=int(self.value("guidance_delay")),
                num_tokens=min(self.lm.max_motion_tokens, -(-frames // self.frames_per_token)),
                candidates=int(self.value("candidates")))
        except FacelmError as exc:
            self.reject("command", str(exc))
            self._finish(request, "failed", f"failed: {exc}", [], stream_id)
            return
        if stream.prompt_truncated:
            self.counts["prompts truncated"] += 1
            self.get_logger().warning("prompt longer than the model reads; only its start is used",
                                      throttle_duration_sec=1.0)
        unseen = ""
        if stream.unknown_words or stream.aliased_words:  # see facelm.known_words
            self.counts["prompts with unseen words"] += 1
            read = [f"{w}->{r}" for w, r in stream.aliased_words] + stream.unknown_words
            unseen = f" (unseen words: {shorten(', '.join(read))})"
        best = (f", best of {len(stream.candidate_scores)} (candidate {stream.chosen + 1})"
                if stream.candidate_scores else "")
        self.get_logger().info(f"stream {stream_id}: {shorten(request.text)!r}, {seconds:.1f} s{unseen}{best}")
        chunk, first_index, made, chunk_index = [], 0, [], 0
        start = time.perf_counter()
        size = 1
        outcome = "done"
        for token in stream:
            if request.preempted.is_set() or self._requests.waiting() or self._stop.is_set():
                outcome = "preempted"
                break
            if request.goal is not None and request.goal.is_cancel_requested:
                outcome = "canceled"
                break
            chunk.append(int(token))
            last = len(made) + len(chunk) == stream.num_tokens
            if len(chunk) < size and not last:
                continue
            self._publish(MotionTokens, stream_id, first_index, chunk, end=last)
            if first_index == 0:
                self.first_token_ms.tick(1e3 * (time.perf_counter() - request.received))
            made += chunk
            first_index += len(chunk)
            if request.goal is not None:
                request.goal.publish_feedback(Animate.Feedback(
                    chunk_index=chunk_index, tokens_so_far=len(made),
                    frames_so_far=min(len(made) * self.frames_per_token, frames),
                    elapsed=time.perf_counter() - request.received))
            chunk, chunk_index, size = [], chunk_index + 1, int(self.value("chunk_tokens"))
        if outcome == "canceled":
            self._publish(MotionTokens, stream_id, first_index, [], end=True)  # play what was made, then idle
        elif outcome == "done":
            took = time.perf_counter() - start
            self.speed.tick(len(made) * self.frames_per_token / self.fps / max(took, 1e-6))
        self.counts[f"streams {outcome}"] += 1
        messages = {"done": "done", "canceled": "canceled", "preempted": "preempted by a newer command"}
        self._finish(request, outcome, messages[outcome], made, stream_id,
                     frames if outcome == "done" else len(made) * self.frames_per_token)

    def _publish(self, msg_type, stream_id: int, first_index: int, tokens: list[int], end: bool) -> None:
        msg = msg_type(stream_id=stream_id, first_index=first_index, tokens=tokens,
                       frames_per_token=self.frames_per_token, fps=self.fps, end=end)
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = "text_to_motion"
        if self.pub.is_activated:
            self.pub.publish(msg)

    def _finish(self, request: Request, outcome: str, message: str, tokens: list[int], stream_id: int,
                frames: int = 0) -> None:
        """Close an action goal (no-op for topic commands)."""
        if request.goal is None:
            return
        from facelm_msgs.action import Animate
        result = Animate.Result(success=outcome == "done", stream_id=stream_id, frames_generated=frames,
                                tokens=tokens, message=message)
        try:
            if outcome == "done":
                request.goal.succeed()
            elif outcome == "canceled":
                request.goal.canceled()
            else:
                request.goal.abort()
        except Exception as exc:  # noqa: BLE001 - a goal already closed (e.g. shutting down)
            self.get_logger().debug(f"goal already closed: {exc}")
        request.done.set_result(result)

    def diagnostics(self) -> dict[str, str]:
        running = self._running
        return {"command rate (Hz)": f"{self.commands.rate():.1f}",
                "generating": "yes" if running is not None else "no",
                "next stream id": str(self.next_stream_id),
                **self.first_token_ms.summary("command to first token"),
                **self.speed.summary("generation speed", "x real time")}


main = main_for(TextToMotion)

if __name__ == "__main__":
    raise SystemExit(main())
