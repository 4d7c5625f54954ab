/**
 * For each of the 40 TaskBench "Daily Life APIs" tools, the catalogue tool of the same domain that a
 * model would route to when it fails for good, and how the failed call's arguments become the
 * substitute's (every argument of the substitute is filled, from the failed call's values). Used by
 * the re-planning evaluation (replan-eval.ts) to script the revision the test server answers.
 *
 * The table is hand-made, one fixed choice per tool: the same substitute every time, so the figures
 * do not depend on a seed. Where the catalogue has a tool with the same arguments that does the same
 * job (a video call and a voice call, a note and a recording), that tool; else the service the job is
 * bought from (online_shopping, online_banking), a search, or a message to whoever can do it.
 */

/** The arguments of a call, by name (values as TaskBench writes them). */
export type Arguments = Record<string, unknown>;

export interface Substitute {
  /** The catalogue tool that does the job instead. */
  tool: string;
  /** The substitute's arguments, from the failed call's. */
  input: (args: Arguments) => Record<string, string>;
}

/** An argument as text; a missing one as an empty string (TaskBench records name some loosely). */
const text = (args: Arguments, name: string): string => {
  const value = args[name];
  return value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value);
};

const search = (query: (a: Arguments) => string, engine = "Google"): Substitute => ({
  tool: "search_by_engine",
  input: (a) => ({ query: query(a), engine }),
});
const shop = (website: string | ((a: Arguments) => string), product: (a: Arguments) => string): Substitute => ({
  tool: "online_shopping",
  input: (a) => ({ website: typeof website === "string" ? website : website(a), product: product(a) }),
});
const bank = (instruction: (a: Arguments) => string): Substitute => ({
  tool: "online_banking",
  input: (a) => ({ instruction: instruction(a), bank: "my bank" }),
});
const email = (address: (a: Arguments) => string, content: (a: Arguments) => string): Substitute => ({
  tool: "send_email",
  input: (a) => ({ email_address: address(a), content: content(a) }),
});
const meeting = (topic: (a: Arguments) => string): Substitute => ({
  tool: "organize_meeting_online",
  input: (a) => ({ topic: topic(a) }),
});

/** The substitute of each catalogue tool. */
export const SUBSTITUTES: Readonly<Record<string, Substitute>> = {
  get_weather: search((a) => `weather forecast ${text(a, "location")} ${text(a, "date")}`),
  get_news_for_topic: search((a) => `latest news ${text(a, "topic")}`, "Bing"),
  stock_operation: bank((a) => `${text(a, "operation")} ${text(a, "stock")} from my brokerage account`),
  book_flight: shop("Expedia", (a) => `flight from ${text(a, "from")} to ${text(a, "to")} on ${text(a, "date")}`),
  book_hotel: shop("Booking.com", (a) => `a room at ${text(a, "name")} on ${text(a, "date")}`),
  book_restaurant: shop("OpenTable", (a) => `a table at ${text(a, "name")} on ${text(a, "date")}`),
  book_car: {
    tool: "order_taxi",
    input: (a) => ({ location: text(a, "location"), platform: "Uber" }),
  },
  online_shopping: search((a) => `buy ${text(a, "product")} on ${text(a, "website")}`),
  send_email: {
    tool: "share_by_social_network",
    input: (a) => ({ content: `to ${text(a, "email_address")}: ${text(a, "content")}`, social_network: "Messenger" }),
  },
  // Email-to-SMS gateways deliver a mail to a phone number.
  send_sms: email(
    (a) => `${text(a, "phone_number")}@sms-gateway.example`,
    (a) => text(a, "content"),
  ),
  // Most networks accept posts by email.
  share_by_social_network: email(
    (a) => `post@${text(a, "social_network").toLowerCase().replace(/\W+/g, "")}.example`,
    (a) => text(a, "content"),
  ),
  search_by_engine: {
    tool: "get_news_for_topic",
    input: (a) => ({ topic: text(a, "query") }),
  },
  apply_for_job: email(
    () => "jobs@example.com",
    (a) => `application for the ${text(a, "job")} position`,
  ),
  see_doctor_online: meeting((a) => `consultation with ${text(a, "doctor")} about ${text(a, "disease")}`),
  consult_lawyer_online: meeting((a) => `legal consultation with ${text(a, "lawyer")} about ${text(a, "issue")}`),
  enroll_in_course: email(
    (a) => `admissions@${text(a, "university").toLowerCase().replace(/\W+/g, "")}.example`,
    (a) => `please enrol me in ${text(a, "course")}`,
  ),
  buy_insurance: shop(
    (a) => text(a, "company"),
    (a) => text(a, "insurance"),
  ),
  online_banking: {
    tool: "make_voice_call",
    input: (a) => ({ phone_number: `${text(a, "bank")} phone banking: ${text(a, "instruction")}` }),
  },
  daily_bill_payment: bank((a) => `pay the ${text(a, "bill")} bill`),
  sell_item_online: {
    tool: "share_by_social_network",
    input: (a) => ({ content: `for sale: ${text(a, "item")}`, social_network: "Facebook Marketplace" }),
  },
  do_tax_return: {
    tool: "consult_lawyer_online",
    input: (a) => ({ issue: `file my ${text(a, "year")} tax return`, lawyer: "a tax adviser" }),
  },
  apply_for_passport: email(
    () => "passports@gov.example",
    (a) => `passport application (${text(a, "country")})`,
  ),
  pay_for_credit_card: bank((a) => `pay the ${text(a, "credit_card")} credit card bill`),
  auto_housework_by_robot: shop("TaskRabbit", (a) => `a cleaner to ${text(a, "instruction")}`),
  auto_driving_to_destination: {
    tool: "order_taxi",
    input: (a) => ({ location: text(a, "destination"), platform: "Uber" }),
  },
  deliver_package: shop("a courier service", (a) => `delivery of ${text(a, "package")} to ${text(a, "destination")}`),
  order_food_delivery: shop(
    (a) => text(a, "platform"),
    (a) => `${text(a, "food")} delivered to ${text(a, "location")}`,
  ),
  order_taxi: {
    tool: "auto_driving_to_destination",
    input: (a) => ({ destination: text(a, "location") }),
  },
  play_music_by_title: search((a) => text(a, "title"), "YouTube"),
  play_movie_by_title: shop("Prime Video", (a) => `rent ${text(a, "title")}`),
  take_note: { tool: "recording_audio", input: (a) => ({ content: text(a, "content") }) },
  borrow_book_online: shop("Amazon", (a) => text(a, "book")),
  recording_audio: { tool: "take_note", input: (a) => ({ content: text(a, "content") }) },
  make_video_call: { tool: "make_voice_call", input: (a) => ({ phone_number: text(a, "phone_number") }) },
  make_voice_call: { tool: "make_video_call", input: (a) => ({ phone_number: text(a, "phone_number") }) },
  organize_meeting_online: email(
    () => "team@example.com",
    (a) => `invitation: online meeting about ${text(a, "topic")}`,
  ),
  attend_meeting_online: meeting((a) => text(a, "topic")),
  software_management: shop("Microsoft Store", (a) => `${text(a, "instruction")} ${text(a, "software")}`),
  // Email-to-print: office printers take documents by mail.
  print_document: email(
    () => "printer@office.example",
    (a) => text(a, "document"),
  ),
  set_alarm: { tool: "take_note", input: (a) => ({ content: `alarm at ${text(a, "time")}` }) },
};
